"""nlme's ``varIdent``: one residual SD per stratum."""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .base import VarFunc, stratum_labels

__all__ = ["VarIdent"]


class VarIdent(VarFunc):
    """One residual SD per stratum (nlme's ``varIdent``).

    ``Var(e_j) = sigma^2 delta_s^2`` for observations in stratum ``s``, with
    ``delta_ref = 1`` for the reference stratum; the ``delta_s`` are SD ratios to the
    reference stratum.  The optimizer works on ``log delta_s``; ``variance_params``
    reports the ratios, the reference's as 1.

    Parameters
    ----------
    value : float or dict, optional
        Starting ratios: a single number for all non-reference strata, or a dict
        ``{stratum: ratio}``.
    form : str
        ``"~ 1 | s"`` or ``"~ 1 | s1*s2"`` (strata labelled ``"a*b"``).
    fixed : bool or dict, optional
        ``True`` holds the ``value=`` ratios; a dict ``{stratum: ratio}`` (nlme's
        ``fixed = c(stratum = ratio)``) holds those strata at those ratios.
    ref : str, optional
        The reference stratum; default the first level (Categorical order, else
        sorted).  nlme uses the first stratum of its sorted data instead; the two
        agree whenever the data are ordered by level.
    """

    def __init__(self, value=None, form="~ 1", fixed=None, ref=None):
        super().__init__(value, form, fixed)
        self.ref = ref
        if not self.form.grouping:
            raise ValueError(f"VarIdent needs a stratum, e.g. form='~ 1 | Sex'; got {form!r}")

    def initialize(self, data, eval_env=None):
        """Find the strata on the model frame, the reference stratum and the starting values.

        Parameters
        ----------
        data : pandas.DataFrame
            Model-frame rows in engine order.
        eval_env : patsy.EvalEnvironment, optional
            Unused (the strata are columns).

        Raises
        ------
        ValueError
            If ``ref=``, ``value=`` or ``fixed=`` name strata that are not in the data, or a
            ratio is not positive.
        """
        labels, levels = stratum_labels(data, self.form.grouping, "VarIdent",
                                            self.strata_present)
        ref = levels[0] if self.ref is None else str(self.ref)
        if ref not in levels:
            raise ValueError(f"VarIdent ref={self.ref!r} is not a stratum in the data "
                             f"(strata: {levels})")
        others = [lev for lev in levels if lev != ref]
        start = dict.fromkeys(others, 0.0)
        if self.value is not None:
            if isinstance(self.value, dict):
                self._check_names(self.value, levels, "value")
                bad = [k for k in self.value if str(k) == ref]
                if bad:
                    raise ValueError(f"VarIdent value= names the reference stratum {ref!r}")
                start.update({str(k): self._log_ratio(v, k) for k, v in self.value.items()})
            else:
                lv = self._log_ratio(self.value, "value")
                start = dict.fromkeys(others, lv)
        fixed = {}
        if self.fixed is True:
            # hold the value= ratios (all non-reference strata when value is a number)
            if self.value is None:
                raise ValueError("VarIdent fixed=True needs value= (the ratios to hold)")
            fixed = {o: start[o] for o in others
                     if not isinstance(self.value, dict) or o in map(str, self.value)}
        elif self.fixed not in (None, False):
            if not isinstance(self.fixed, dict):
                raise ValueError("VarIdent fixed= must be True/False (hold value=) or a dict "
                                 "{stratum: ratio} (nlme's form)")
            self._check_names(self.fixed, levels, "fixed")
            fixed = {str(k): self._log_ratio(v, k) for k, v in self.fixed.items()}
            if ref in fixed:
                raise ValueError(f"VarIdent fixed= names the reference stratum {ref!r}")
            start.update(fixed)
        self.levels = [ref] + others
        self.reference = ref
        codes = pd.Categorical(labels, categories=self.levels).codes
        self._codes = np.asarray(codes)
        self._names = others
        self._all = np.array([start[o] for o in others], dtype=float)
        self._free = np.array([o not in fixed for o in others], dtype=bool)
        self._initialized = True

    @staticmethod
    def _log_ratio(v, name):
        if not isinstance(v, numbers.Real) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"VarIdent ratio for {name!r} must be a positive number, got {v!r}")
        return float(np.log(v))

    @staticmethod
    def _check_names(d, levels, what):
        missing = [k for k in d if str(k) not in levels]
        if missing:
            raise ValueError(f"VarIdent {what}= names strata not in the data: {missing} "
                             f"(strata: {levels})")

    @property
    def stratum_codes(self):
        self._check_init()
        return self._codes

    def log_weights_jacobian(self, theta):
        # log w = -(log ratio of the row's stratum): exactly -1 on the stratum's rows
        self._check_init()
        free = np.flatnonzero(self._free) + 1          # stratum codes of free ratios
        return -(self._codes[None, :] == free[:, None]).astype(float)

    def _log_sd(self, full):
        return np.concatenate([[0.0], full])[self._codes]

    def _natural(self, full):
        return np.exp(full)

    def coefficients(self, theta=None):
        """The SD ratios of all strata, the reference stratum's (1) first.

        Parameters
        ----------
        theta : array_like, optional
            Free parameters (log ratios); default the starting values.

        Returns
        -------
        pandas.Series
        """
        s = super().coefficients(theta)
        return pd.concat([pd.Series({self.reference: 1.0}), s])
