"""The documented misuse table (docs/errors.md): every row raises the documented
exception type with a message naming the problem."""
import numpy as np
import pytest

import lmmext
from lmmext import (CorAR1, CorCAR1, CorExp, VarComb, VarConstPower,
                    VarIdent, VarPower, gls, lme)


def _O():
    from lmmext.validation import load_dataset
    return load_dataset("Orthodont")


def _fit():
    return lme("distance ~ age", data=_O(), random="~ 1 | Subject")


CASES = [
    ("data not a DataFrame", lambda: lme("distance ~ age", data=_O().to_dict("list"),
                                         random="~ 1 | Subject"), TypeError, "DataFrame"),
    ("formula not a string", lambda: gls(["distance", "age"], data=_O()), ValueError, "formula"),
    ("random missing", lambda: lme("distance ~ age", data=_O(), random=None), ValueError, "random="),
    ("random empty dict", lambda: lme("distance ~ age", data=_O(), random={}), ValueError, "empty"),
    ("random wrong type", lambda: lme("distance ~ age", data=_O(), random=3), TypeError, "random="),
    ("random level formula without tilde", lambda: lme("distance ~ age", data=_O(),
                                                      random={"Subject": "age"}), ValueError, "~"),
    ("VarIdent without stratum", lambda: VarIdent(form="~ age"), ValueError, "VarIdent needs a stratum"),
    ("VarPower without covariate", lambda: VarPower(form="~ 1 | Sex"), ValueError, "needs a covariate"),
    ("VarComb with one function", lambda: VarComb(VarIdent(form="~ 1 | Sex")), ValueError, "two or more"),
    ("VarIdent negative ratio", lambda: gls("distance ~ age", data=_O(),
                                           weights=VarIdent(value=-1.0, form="~ 1 | Sex")),
     ValueError, "positive"),
    ("VarConstPower const <= 0", lambda: gls("distance ~ age", data=_O(),
                                            weights=VarConstPower(value=[0.0, 1.0], form="~ age")),
     ValueError, "const must be positive"),
    ("VarIdent fixed of a wrong type", lambda: gls("distance ~ age", data=_O(),
                                                  weights=VarIdent(form="~ 1 | Sex", fixed=0.5)),
     ValueError, "fixed="),
    ("correlation of a wrong type", lambda: gls("distance ~ age", data=_O(), correlation="AR1"),
     TypeError, "CorStruct"),
    ("CorCAR1 value outside (0, 1)", lambda: CorCAR1(value=1.5), ValueError, "CorCAR1"),
    ("unknown column in correlation form", lambda: gls("distance ~ age", data=_O(),
                                                      correlation=CorAR1(form="~ 1 | Subj")),
     KeyError, "Subj"),
    ("incompatible correlation grouping", lambda: lme("distance ~ age", data=_O(),
                                                     random="~ 1 | Subject",
                                                     correlation=CorAR1(form="~ 1 | Sex")),
     ValueError, "incompatible"),
    ("spatial coordinates with NaN", lambda: gls("distance ~ age", data=_O().assign(
        xx=lambda d: np.where(d.index == 3, np.nan, d["age"])).fillna({"distance": 0}),
        correlation=CorExp(form="~ xx | Subject"), missing="raise"), ValueError, "missing"),
    ("duplicate locations without nugget", lambda: gls("distance ~ age", data=_O().assign(
        xx=1.0), correlation=CorExp(form="~ xx | Subject")), ValueError, "nugget"),
    ("start of the wrong length", lambda: lme("distance ~ age", data=_O(), random="~ 1 | Subject",
                                              start=[0.1, 0.2, 0.3]), ValueError, "start="),
    ("more fixed effects than observations", lambda: gls("distance ~ C(Subject) + age",
                                                        data=_O().iloc[:20]),
     ValueError, "rank deficient|too few"),
    ("predict without the grouping column", lambda: _fit().predict(
        _O().drop(columns="Subject"), level=1), KeyError, "Subject"),
    ("predict with an unseen factor level", lambda: lme("distance ~ Sex", data=_O(),
                                                        random="~ 1 | Subject").predict(
        _O().assign(Sex="Other")), ValueError, "newdata"),
    ("anova of a non-result", lambda: lmmext.anova(_fit(), "fit2"), TypeError, "lmmext results"),
    ("intervals level outside (0, 1)", lambda: _fit().intervals(level=95), ValueError, "level"),
    ("unknown ddf", lambda: _fit().fe_table(ddf="residual"), ValueError, "ddf"),
    ("unknown residual type", lambda: _fit().residuals(type="deviance"), ValueError, "residual type"),
    ("fitted level out of range", lambda: _fit().fitted(level=2), ValueError, "level"),
]


@pytest.mark.parametrize("what,call,exc,match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_documented_error(what, call, exc, match):
    with pytest.raises(exc, match=match):
        call()
