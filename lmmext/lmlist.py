"""nlme's ``lmList``: one ordinary least-squares fit per group, their coefficients,
summary, intervals and pooled residual SD, and an :func:`lmmext.lme` fit started from
them (nlme's ``lme(lmList)``).

Each group's model is fitted as R's ``lm`` fits it: the design is built on the group's
rows (factor levels absent from the group dropped), coefficients that are linear
combinations of earlier columns are aliased (``NaN``, R's ``NA``), and a group whose
design cannot be built (a factor with one level there) keeps a row of ``NaN``
coefficients with a warning, as nlme's ``lmList`` does.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from .engine.likelihood import ProfiledLikelihood
from .formula import eval_environment, parse_random
from .frame import _patsy_error, _quote_keywords, build_frame, drop_missing, model_columns
from .model import MixedLM, _method_to_reml
from .structures.form import group_labels, level_sort_key, parse_struct_form

__all__ = ["lmList", "LMList", "LMListSummary"]

# R's lm(): a column is aliased when its norm after the earlier columns' reflections falls
# below this fraction of its original norm (LINPACK dqrdc2, tol = 1e-7)
_LM_TOL = 1e-7


def _split_formula(formula, groups):
    """``"y ~ x | g"`` (or ``"y ~ x"`` with ``groups=``) -> ``("y ~ x", ["g", ...])``."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"lmList needs a formula string 'y ~ x | g', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    if not lhs.strip():
        raise ValueError(f"lmList needs a response: 'y ~ x | g', got {formula!r}")
    if "|" in rhs:
        if groups is not None:
            raise ValueError(f"lmList: give the grouping either in the formula ({formula!r}) "
                             f"or as groups= ({groups!r}), not both")
        cov, grp = rhs.rsplit("|", 1)
        gtext = "~ 1 | " + grp.strip()
    elif groups is None:
        raise ValueError("lmList needs a grouping: 'y ~ x | g' (or groups='g'), "
                         f"got {formula!r}")
    else:
        cov = rhs
        if not isinstance(groups, str) or not groups.strip():
            raise ValueError(f"lmList: groups= must be a column name 'g' or a formula "
                             f"'~ g' ('~ a/b' nested), got {groups!r}")
        g = groups.strip()
        gtext = "~ 1 | " + (g[1:].strip() if g.startswith("~") else g)
    if not cov.strip():
        raise ValueError(f"lmList: the formula {formula!r} has no right-hand side; "
                         "use 'y ~ 1 | g' for a mean per group")
    form = parse_struct_form(gtext, "lmList grouping")
    if len(form.grouping) > 1 and not form.nested:
        raise ValueError(f"lmList grouping {gtext[6:]!r}: use 'a/b' for nested groups "
                         "(one grouping factor or a nested one)")
    return f"{lhs.strip()} ~ {cov.strip()}", list(form.grouping)


def _level_index(level, names):
    if level is None:
        return len(names)
    if isinstance(level, str):
        if level not in names:
            raise ValueError(f"lmList: level={level!r} is not a grouping of {names}")
        return names.index(level) + 1
    if isinstance(level, (int, np.integer)) and not isinstance(level, bool) \
            and 1 <= level <= len(names):
        return int(level)
    raise ValueError(f"lmList: level= must be 1..{len(names)} or one of {names}, "
                     f"got {level!r}")


def _group_order(data, names):
    """nlme's group labels and their order (``getGroups``): a single factor's level order
    (Categorical order, else sorted values); nested ``a/b`` labels ordered by the levels
    when the outer factor is an ordered Categorical, else by first appearance."""
    labels = pd.Series(group_labels(data, names, "lmList grouping"), index=data.index)
    if len(names) == 1 or (isinstance(data[names[0]].dtype, pd.CategoricalDtype)
                           and data[names[0]].cat.ordered):
        keys = [level_sort_key(data[n]) for n in names]
        order = np.lexsort(keys[::-1])
        levels = pd.unique(labels.to_numpy()[order])
    else:
        levels = pd.unique(labels.to_numpy())
    return labels, [str(v) for v in levels]


def _r_lm(X, y):
    """R's ``lm.fit``: aliased columns (limited pivoting, tolerance 1e-7) get NaN.

    Returns ``(coef, kept, fitted, unscaled)``: coefficients (NaN where aliased), the
    mask of estimable columns, fitted values and ``(X'X)^-1`` of the kept columns.
    """
    n, p = X.shape
    kept = np.zeros(p, dtype=bool)
    Q = np.zeros((n, 0))
    for j in range(p):
        x = X[:, j]
        norm0 = np.linalg.norm(x)
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)                      # re-orthogonalize
        if Q.shape[1] < n and np.linalg.norm(r) >= _LM_TOL * (norm0 if norm0 > 0 else 1.0):
            kept[j] = True
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    Xk = X[:, kept]
    coef = np.full(p, np.nan)
    if kept.any():
        q, rr = np.linalg.qr(Xk)
        b = np.linalg.solve(rr, q.T @ y)
        coef[kept] = b
        fitted = Xk @ b
        rinv = np.linalg.inv(rr)
        unscaled = rinv @ rinv.T
    else:
        fitted, unscaled = np.zeros(n), np.zeros((0, 0))
    return coef, kept, fitted, unscaled


def _r_format(df):
    """``df`` as R prints a data frame of numbers: per column 7 significant digits with
    common decimals, or scientific notation where that is narrower; NaN as ``NA``."""
    cols = {}
    for c in df.columns:
        x = df[c].to_numpy(dtype=float)
        fin = x[np.isfinite(x) & (x != 0)]
        mant = [f"{v:.6e}".split("e") for v in fin]
        sig = [len(m.replace("-", "").replace(".", "").rstrip("0")) for m, _ in mant] or [1]
        dec = min(15, max([max(0, k - 1 - int(e)) for k, (_, e) in zip(sig, mant)] or [0]))
        fixed = [f"{v:.{dec}f}" for v in x]
        sci = [f"{v:.{max(sig) - 1}e}" for v in x]
        use = fixed if max(map(len, fixed)) <= max(map(len, sci)) else sci
        cols[c] = [u if np.isfinite(v) else ("NA" if np.isnan(v) else u)
                   for u, v in zip(use, x)]
    return pd.DataFrame(cols, index=df.index).to_string(index_names=False)


class _GroupFit:
    """One group's ``lm``: its design and the fit (or the error that stopped it)."""

    def __init__(self, rows, names=(), design_info=None, error=None):
        self.rows, self.names = rows, list(names)     # rows: positions in the kept data
        self.design_info, self.error = design_info, error

    def fit(self, X, y):
        self.coef, self.kept, self.fitted, self.unscaled = _r_lm(X, y)
        self.resid = y - self.fitted
        self.rss = float(self.resid @ self.resid)
        self.df = len(y) - int(self.kept.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            self.sigma = np.sqrt(self.rss / self.df) if self.df > 0 else np.nan
        self.se_unscaled = np.full(len(self.coef), np.nan)
        self.se_unscaled[self.kept] = np.sqrt(np.diag(self.unscaled))
        return self

    @property
    def ok(self):
        return self.error is None


def lmList(formula, data, pool=True, level=None, groups=None, missing="drop", eval_env=0):
    """Fit one linear model per group, as nlme's ``lmList``.

    Parameters
    ----------
    formula : str
        ``"y ~ x | g"``: the model and the grouping factor after ``|`` (``"y ~ x | a/b"``
        for nested groups, see `level`).  Or ``"y ~ x"`` with `groups`.
    data : pandas.DataFrame
    pool : bool
        nlme's ``pool``: whether the summary, intervals and printout use the pooled
        residual standard deviation (:attr:`LMList.pooled_sd`) and its degrees of freedom.
    level : int or str, optional
        With nested groups ``a/b``: ``1`` (or ``"a"``) fits per ``a``, ``2`` (the default,
        the innermost level) per ``a/b``.
    groups : str, optional
        The grouping when the formula has no ``|``: ``"g"``, ``"~ g"`` or ``"~ a/b"``.
    missing : {"drop", "raise"}
        Rows with missing values in the columns used are dropped (counted in
        ``n_dropped``), or raise ``ValueError`` (nlme's default ``na.fail``).
    eval_env : int or patsy.EvalEnvironment
        Namespace for the formula's functions: the caller's frame by default.

    Returns
    -------
    LMList

    Raises
    ------
    ValueError
        No response or no grouping (``lmList needs a grouping: 'y ~ x | g'``), a bad
        `level`, `missing` or `groups`; ``KeyError``: an unknown column.

    Examples
    --------
    >>> from lmmext.validation import load_dataset
    >>> lis = lmList("conc ~ age | Lot", data=load_dataset("IGF"))
    >>> lis.coef().round(4).head(2)
         Intercept     age
    Lot
    9       5.0986  0.0057
    6       4.6300  0.1700
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"lmList: data must be a pandas DataFrame, got {type(data).__name__}")
    if missing not in ("drop", "raise"):
        raise ValueError(f"lmList: missing= must be 'drop' or 'raise', got {missing!r}")
    env = eval_environment(eval_env)
    model, gnames = _split_formula(formula, groups)
    for g in gnames:
        if g not in data.columns:
            raise KeyError(f"lmList: unknown grouping column {g!r} (columns: "
                           f"{list(data.columns)})")
    k = _level_index(level, gnames)
    return LMList(model, data, gnames, k, bool(pool), missing, env,
                  level_given=level is not None)


class LMList:
    """The per-group fits of :func:`lmList` (nlme's ``lmList`` object).

    Attributes
    ----------
    formula : str
        The model with its grouping, ``"conc ~ age | Lot"``.
    model_formula : str
        The model without the grouping, ``"conc ~ age"``.
    group_name : str
        The grouping the fits are per: ``"Lot"``, or ``"Dog/Side"`` for a nested level.
    groups : list of str
        The group labels in nlme's order (the rows of :meth:`coef`).
    pool : bool
        The default of the summary, intervals and printout.
    nobs, n_dropped : int
        Rows used and rows dropped for missing values.
    failed : list of str
        Groups whose model could not be fitted (their coefficients are NaN).
    """

    def __init__(self, model, data, gnames, k, pool, missing, env, level_given=False):
        self.model_formula = model
        self.group_vars = list(gnames)
        self.group_name = "/".join(gnames[:k])
        self.formula = f"{model} | {'/'.join(gnames)}"
        self.level = k
        self._level_given = level_given
        self.pool = pool
        self._data = data
        self._env = env
        used = model_columns(" ".join([model] + gnames), data.columns)
        frame, na = drop_missing(data.loc[:, used], used, missing, "lmList: ")
        self.n_dropped = int(na.sum())
        self.index = frame.index
        self.frame = frame.reset_index(drop=True)
        self.nobs = len(self.frame)
        self._model = _quote_keywords(model, self.frame)
        labels, self.groups = _group_order(self.frame, gnames[:k])
        self._labels = labels.to_numpy()
        self._fit_groups()

    # -- fitting ---------------------------------------------------------------------
    def _designs(self, sub):
        try:
            return patsy.dmatrices(self._model, sub, eval_env=self._env, NA_action="raise",
                                   return_type="dataframe")
        except patsy.PatsyError as exc:
            raise _patsy_error(exc, "lmList formula") from None

    def _fit_groups(self):
        y_all, X_all = self._designs(self.frame)
        if y_all.shape[1] != 1:
            raise ValueError(f"lmList: the response of {self.model_formula!r} must be "
                             f"numeric; it expands to {y_all.shape[1]} columns")
        self.y_name = str(y_all.columns[0])
        di = X_all.design_info
        # a group's design is its rows of the whole design, unless factors or stateful
        # transforms (center(x)) need it built on the group's rows, as R's lm() does
        per_group = any(fi.type == "categorical" or fi.state.get("transforms")
                        for fi in di.factor_infos.values())
        y = y_all.iloc[:, 0].to_numpy(dtype=float)
        X = X_all.to_numpy(dtype=float)
        self._fits, errors, names = {}, {}, []
        for g in self.groups:
            rows = np.flatnonzero(self._labels == g)
            if not per_group:
                fit = _GroupFit(rows, list(X_all.columns), di).fit(X[rows], y[rows])
            else:
                fit = self._fit_one(rows, errors)
            self._fits[g] = fit
            names += [n for n in fit.names if n not in names]
        self.coef_names = names
        self.failed = [g for g, f in self._fits.items() if not f.ok]
        if errors:
            msg = "; ".join(f"{len(gs)} group(s) ({', '.join(gs[:8])}"
                            f"{', ...' if len(gs) > 8 else ''}): {m}" for m, gs in errors.items())
            warnings.warn(f"lmList: the model could not be fitted in {msg}; their "
                          "coefficients are NaN, as nlme's", UserWarning, stacklevel=4)

    def _fit_one(self, rows, errors):
        sub = self.frame.iloc[rows].copy()
        for c in sub.columns:
            if isinstance(sub[c].dtype, pd.CategoricalDtype):
                sub[c] = sub[c].cat.remove_unused_categories()
        try:
            yg, Xg = self._designs(sub)
            one = [fi.factor.name() for fi in Xg.design_info.factor_infos.values()
                   if fi.type == "categorical" and len(fi.categories) < 2]
            if one:
                raise ValueError(f"factor(s) {one} with fewer than 2 levels (R: contrasts "
                                 "can be applied only to factors with 2 or more levels)")
        except (ValueError, KeyError) as exc:
            errors.setdefault(str(exc), []).append(str(self._labels[rows[0]]))
            return _GroupFit(rows, error=str(exc))
        return _GroupFit(rows, list(Xg.columns), Xg.design_info).fit(
            Xg.to_numpy(dtype=float), yg.iloc[:, 0].to_numpy(dtype=float))

    # -- per-group tables ------------------------------------------------------------
    def _matrix(self, attr):
        out = np.full((len(self.groups), len(self.coef_names)), np.nan)
        for i, g in enumerate(self.groups):
            f = self._fits[g]
            if f.ok:
                cols = [self.coef_names.index(n) for n in f.names]
                out[i, cols] = getattr(f, attr)
        return out

    def _gindex(self):
        return pd.Index(self.groups, name=self.group_name)

    def _per_group(self, attr):
        return pd.Series([float(getattr(self._fits[g], attr)) if self._fits[g].ok else np.nan
                          for g in self.groups], index=self._gindex(), name=attr)

    def coef(self):
        """nlme's ``coef(lmList)``: groups (nlme's order) x coefficients; NaN where a
        coefficient is aliased in a group or the group's fit failed."""
        return pd.DataFrame(self._matrix("coef"), index=self._gindex(),
                            columns=list(self.coef_names))

    @property
    def df_resid(self):
        """Residual degrees of freedom per group (``n - rank``; NaN for failed groups)."""
        return self._per_group("df")

    @property
    def sigma(self):
        """Residual standard error per group (NaN without residual degrees of freedom)."""
        return self._per_group("sigma")

    def _pooled(self):
        rss = sum(f.rss for f in self._fits.values() if f.ok)
        # nlme's pooledSD counts n - length(coef(lm)): aliased coefficients included
        df = sum(len(f.rows) - len(f.coef) for f in self._fits.values() if f.ok)
        if df <= 0:
            raise ValueError("lmList: no degrees of freedom for estimating the pooled "
                             "standard deviation")
        return float(np.sqrt(rss / df)), int(df)

    @property
    def pooled_sd(self):
        """nlme's ``pooledSD``: ``sqrt(sum RSS / sum (n_g - p_g))`` over the fitted groups,
        ``p_g`` counting every coefficient of the group's model (nlme's count, aliased
        ones included); its degrees of freedom (``attr(, "df")``) are :attr:`pooled_df`."""
        return self._pooled()[0]

    pooled_df = property(lambda self: self._pooled()[1], doc="The df of :attr:`pooled_sd`.")

    def _pool(self, pool):
        if pool is None:
            return self.pool
        if not isinstance(pool, (bool, np.bool_)):
            raise TypeError(f"pool= must be True, False or None, got {pool!r}")
        return bool(pool)

    def _tables(self, pool):
        est = self._matrix("coef")
        sigma = self.sigma.to_numpy()[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            se = self._matrix("se_unscaled") * sigma
            if pool:
                rse, df = self._pooled()
                se = se * rse / sigma          # nlme: SE_g * pooledSD / sigma_g
                df = np.full(est.shape, float(df))
            else:
                df = np.broadcast_to(self.df_resid.to_numpy()[:, None], est.shape)
            t = est / se
            p = 2 * stats.t.sf(np.abs(t), df)
        return est, se, t, p, df

    def summary(self, pool=None):
        """nlme's ``summary(lmList)`` (:class:`LMListSummary`): per coefficient, the groups'
        Estimate, Std. Error, t value and Pr(>|t|), with the pooled residual SD and its
        degrees of freedom (``pool=True``; default: the fit's ``pool``) or each group's."""
        pool = self._pool(pool)
        est, se, t, p, _ = self._tables(pool)
        tables = {}
        for j, name in enumerate(self.coef_names):
            tables[name] = pd.DataFrame(
                {"Estimate": est[:, j], "Std. Error": se[:, j], "t value": t[:, j],
                 "Pr(>|t|)": p[:, j]}, index=self._gindex())
        rse, df = self._pooled() if pool else (None, None)
        return LMListSummary(self, tables, pool, rse, df)

    def intervals(self, level=0.95, pool=None):
        """nlme's ``intervals(lmList)``: ``estimate -/+ t_{(1+level)/2, df} SE`` per group,
        a DataFrame (groups x (coefficient, ``lower``/``est.``/``upper``): nlme's 3-d
        array flattened).  ``pool=True`` (the fit's default, as nlme): pooled SEs and
        degrees of freedom; ``False``: each group's, R's ``confint`` of each ``lm``
        (nlme 3.1-162's ``intervals(..., pool = FALSE)`` fails)."""
        if not isinstance(level, (float, int, np.floating)) or not 0 < level < 1:
            raise ValueError(f"intervals: level must be between 0 and 1, got {level!r}")
        est, se, _, _, df = self._tables(self._pool(pool))
        with np.errstate(invalid="ignore"):
            mult = stats.t.ppf((1 + level) / 2, df)
        cols, vals = [], []
        for j, name in enumerate(self.coef_names):
            for part, v in (("lower", est[:, j] - mult[:, j] * se[:, j]),
                            ("est.", est[:, j]), ("upper", est[:, j] + mult[:, j] * se[:, j])):
                cols.append((name, part))
                vals.append(v)
        return pd.DataFrame(np.column_stack(vals), index=self._gindex(),
                            columns=pd.MultiIndex.from_tuples(cols))

    # -- per-row values ----------------------------------------------------------------
    def _per_row(self, attr, scale=None):
        out = np.full(self.nobs, np.nan)
        for g, f in self._fits.items():
            if f.ok:
                v = getattr(f, attr)
                out[f.rows] = v if scale is None else v / scale(f)
        return out

    def fitted(self):
        """Fitted values per row, in the data's order (index: the rows used); NaN for
        rows of failed groups.  nlme returns them blocked by group."""
        return pd.Series(self._per_row("fitted"), index=self.index, name="fitted")

    def residuals(self, type="response"):
        """Residuals per row in the data's order: ``"response"`` (default),
        ``"pearson"`` (divided by the group's residual SE) or ``"pooled.pearson"``
        (divided by :attr:`pooled_sd`), as nlme's ``resid(lmList, type=)``."""
        if type == "response":
            vals = self._per_row("resid")
        elif type == "pearson":
            vals = self._per_row("resid", lambda f: f.sigma)
        elif type == "pooled.pearson":
            sd = self.pooled_sd
            vals = self._per_row("resid", lambda f: sd)
        else:
            raise ValueError("residuals: type must be 'response', 'pearson' or "
                             f"'pooled.pearson', got {type!r}")
        return pd.Series(vals, index=self.index, name="resid")

    @property
    def resid(self):
        """Response residuals (:meth:`residuals`)."""
        return self.residuals()

    def predict(self, newdata):
        """nlme's ``predict(lmList, newdata)``.

        With the grouping column(s) in `newdata`, each row is predicted by its group's
        model (a Series in `newdata`'s order; NaN for failed groups); without them,
        every row by every group's model (a DataFrame, one column per group).
        """
        if not isinstance(newdata, pd.DataFrame):
            raise TypeError(f"predict: newdata must be a pandas DataFrame, got "
                            f"{type(newdata).__name__}")
        gvars = self.group_vars[:self.level]
        if all(g in newdata.columns for g in gvars):
            labels = group_labels(newdata, gvars, "predict grouping")
            unknown = sorted(set(labels) - set(self.groups))
            if unknown:
                raise ValueError(f"predict: nonexistent group(s) in newdata: {unknown}")
            out = np.full(len(newdata), np.nan)
            for g in pd.unique(labels):
                rows = np.flatnonzero(labels == g)
                out[rows] = self._predict_group(g, newdata.iloc[rows])
            return pd.Series(out, index=newdata.index, name="predicted")
        return pd.DataFrame({g: self._predict_group(g, newdata) for g in self.groups},
                            index=newdata.index)

    def _predict_group(self, g, new):
        f = self._fits[g]
        if not f.ok:
            return np.full(len(new), np.nan)
        try:
            (X,) = patsy.build_design_matrices([f.design_info], new, NA_action="raise",
                                               return_type="matrix")
        except patsy.PatsyError as exc:
            raise _patsy_error(exc, "predict") from None
        X = np.asarray(X, dtype=float)[:, f.kept]
        return X @ f.coef[f.kept]

    # -- printing ----------------------------------------------------------------------
    def _call_lines(self):
        drop = f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""
        return (["Call:", f"  Model: {self.formula}"]
                + ([f" Level: {self.level}"] if self._level_given else [])
                + [f"   Data: {self.nobs} observations{drop}"])

    def __str__(self):
        lines = self._call_lines() + ["", "Coefficients:", _r_format(self.coef())]
        if self.pool:
            n = sum(len(f.rows) for f in self._fits.values() if f.ok)
            try:
                sd, df = self._pooled()
                tail = [f"Degrees of freedom: {n} total; {df} residual",
                        f"Residual standard error: {sd:.7g}"]
            except ValueError:                  # nlme's print fails here
                tail = [f"Degrees of freedom: {n} total; no residual degrees of freedom"]
            lines += [""] + tail
        return "\n".join(lines)

    def __repr__(self):
        return str(self)

    # -- lme(lmList) -------------------------------------------------------------------
    def lme_start(self, names=None):
        """nlme's starting relative covariance of ``lme(lmList)``:
        ``diag((mad(coef_j) / mad(resid))^2)`` over the coefficients `names` (default all),
        with R's ``mad`` (1.4826 times the median absolute deviation) of the groups'
        complete coefficient rows and of all residuals.  A DataFrame."""
        names = list(self.coef_names if names is None else names)
        cf = self.coef().dropna()
        res = self.residuals().dropna().to_numpy()

        def mad(x):
            x = np.asarray(x, dtype=float)
            return 1.4826 * np.median(np.abs(x - np.median(x)))

        d = np.array([mad(cf[n]) for n in names]) / mad(res)
        return pd.DataFrame(np.diag(d ** 2), index=names, columns=names)

    def _lme_random(self, random):
        g = self.group_name
        if random is None:
            return {g: "~ " + self.model_formula.split("~", 1)[1].strip()}
        if isinstance(random, str) and "|" not in random:
            return {g: random}                    # "~ x", "pdDiag(~ x)": per the group
        names = [lv.name for lv in parse_random(random)]
        if names != [g]:
            raise ValueError(f"lme(lmList): random= must group by the lmList's grouping "
                             f"{g!r}, got {names} from {random!r}")
        return random

    def _lme(self, data=None, random=None, weights=None, correlation=None, method="REML",
             missing="drop", start=None, eval_env=None, subset=None, contrasts=None):
        """nlme's ``lme.lmList`` (called by :func:`lmmext.lme` with an LMList)."""
        if subset is not None or contrasts is not None:
            raise ValueError("lme(lmList): subset= and contrasts= are not supported; the "
                             "model and its rows are the lmList's (fit lme() on a formula)")
        if len(self.group_vars) > 1:
            raise ValueError("lme(lmList): can only fit lmList objects with a single "
                             "grouping variable (nlme's rule)")
        if data is not None:
            warnings.warn("lme(lmList) uses the lmList's data; data= is ignored (nlme: "
                          "'lme.lmList' will redefine 'data')", UserWarning, stacklevel=3)
        reml = _method_to_reml(method)
        levels = parse_random(self._lme_random(random))
        env = eval_env if eval_env is not None else self._env
        frame = build_frame(self.model_formula, self._data, levels, weights, correlation,
                            missing, env)
        model = MixedLM._from_frame(frame)
        if start is None:
            engine = ProfiledLikelihood(frame.y, frame.X, frame.levels, frame.varfunc,
                                        frame.corstruct, reml=reml)
            start = engine.start()
            lev = frame.levels[0]
            if all(n in self.coef_names for n in lev.z_names):
                D = self.lme_start(lev.z_names).to_numpy()
                try:            # a zero spread of some coefficient: lmmext's own start
                    start[:lev.n_params] = engine.theta_from_user_cov(0, D)
                except np.linalg.LinAlgError:
                    pass
        return model._fit_nlme(reml, start)


class LMListSummary:
    """nlme's ``summary(lmList)``: ``coefficients`` (dict: coefficient -> DataFrame of the
    groups' ``Estimate``, ``Std. Error``, ``t value``, ``Pr(>|t|)``; also ``summary[name]``),
    ``pool``, the pooled ``RSE`` and ``df_residual`` (None unless pooled), and each
    group's ``sigma`` and residual ``df`` (Series)."""

    def __init__(self, fit, tables, pool, rse, df):
        self._fit, self.coefficients, self.pool = fit, tables, pool
        self.RSE, self.df_residual = rse, df
        self.sigma, self.df = fit.sigma, fit.df_resid

    def __getitem__(self, name):
        return self.coefficients[name]

    def table(self):
        """All coefficients' tables side by side (MultiIndex columns)."""
        return pd.concat(self.coefficients, axis=1)

    def __str__(self):
        lines = self._fit._call_lines() + ["", "Coefficients:"]
        for name, tab in self.coefficients.items():
            lines += [f"   {name} ", _r_format(tab)]
        if self.pool:
            lines += ["", f"Residual standard error: {self.RSE:.7g} on {self.df_residual} "
                          "degrees of freedom"]
        return "\n".join(lines) + "\n"

    def __repr__(self):
        return str(self)
