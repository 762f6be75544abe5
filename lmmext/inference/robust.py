"""Cluster-robust (sandwich) covariances of the fixed effects and their t tests, as R's
clubSandwich (``vcovCR``, ``coef_test``) computes them for nlme's lme and gls fits.

With clusters ``j = 1..J`` (each a union of random-effects groups and correlation
blocks), the fit's working covariance relative to ``sigma^2``,
``V_j = Lambda_j + sum_k Z_jk D_k Z_jk'`` (``Lambda = W^-1 C W^-1`` of the variance
function and correlation structure, ``D_k`` the relative random-effects covariance of
level ``k``), ``W_j = V_j^-1``, the marginal residuals ``e_j = y_j - X_j beta`` and
``M = vcov(fit) / sigma^2`` (nlme's, so an ML gls carries its ``N / (N - p)``)::

    vcov_CR = M (sum_j X_j' W_j A_j e_j e_j' A_j' W_j X_j) M

with ``A_j = I`` (CR0), ``sqrt(J / (J - 1))`` (CR1), ``sqrt(J / (J - p))`` (CR1p),
``sqrt(J (N - 1) / ((J - 1)(N - p)))`` (CR1S) or Bell and McCaffrey's bias-reduced
linearization (CR2): with ``V_j = L_j L_j'`` and ``H_jj = X_j (X'WX)^-1 X_j' W_j``,
``A_j = L_j G_j^(-1/2) L_j'``, ``G_j = L_j' (I - H_jj) V_j L_j`` (clubSandwich's
``inverse_var = TRUE`` default for lme and gls: the target is the working covariance,
the weights are its inverse; the symmetric power drops eigenvalues below 1e-12).

Satterthwaite degrees of freedom (Bell and McCaffrey 2002; Pustejovsky and Tipton 2018)
of coefficient ``i``: ``df_i = tr(P_i)^2 / sum(P_i^2)`` with the ``J x J`` matrix
``P_i = diag_j(|g_ij|^2) - H_i' H_i``, ``g_ij = (M E_j L_j)[i, :]``,
``E_j = X_j' W_j A_j``, and column ``j`` of ``H_i`` the row ``i`` of
``M E_j X_j chol(M)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CR_TYPES", "COEF_TESTS", "ClusterRobust", "residual_cov", "cluster_codes",
           "match_type", "match_test"]

CR_TYPES = ("CR0", "CR1", "CR1p", "CR1S", "CR2")
COEF_TESTS = ("satterthwaite", "naive-t", "naive-tp", "z")


def match_type(type, what="vcov_robust"):
    """The CR type by name (case-insensitive), as clubSandwich's ``type =``."""
    if isinstance(type, str):
        for t in CR_TYPES:
            if t.lower() == type.lower():
                return t
    raise ValueError(f"{what}: type must be one of {', '.join(map(repr, CR_TYPES))} "
                     f"(clubSandwich's small-sample adjustments), got {type!r}")


def match_test(test):
    """The coefficient test by name (case-insensitive), as clubSandwich's ``test =``."""
    if isinstance(test, str) and test.lower() in COEF_TESTS:
        return test.lower()
    raise ValueError(f"coef_test: test must be one of {', '.join(map(repr, COEF_TESTS))} "
                     f"(clubSandwich's 'Satterthwaite', 'naive-t', 'naive-tp', 'z'), "
                     f"got {test!r}")


def residual_cov(corstruct, theta_cor, sd, rows):
    """``sd_a sd_b C_ab`` of the engine-order rows ``rows``: the correlation matrices of
    the correlation blocks inside ``rows`` (each block entirely inside, rows in engine
    order), scaled by the standard deviations ``sd`` of those rows."""
    sd = np.asarray(sd, dtype=float)
    C = np.eye(len(rows))
    if corstruct is not None:
        blocks = np.asarray(corstruct.row_blocks)[rows]
        for b in pd.unique(blocks):
            r = np.flatnonzero(blocks == b)
            if r.size > 1:
                C[np.ix_(r, r)] = corstruct.correlation_matrix(theta_cor, int(b))
    return C * np.outer(sd, sd)


def _dense_rows(Z, rows):
    Zr = Z[rows]
    return Zr.toarray() if hasattr(Zr, "toarray") else np.asarray(Zr)


def relative_marginal_cov(state, rows):
    """The working covariance ``V / sigma^2`` of the engine-order rows ``rows`` (a union
    of random-effects groups and correlation blocks)."""
    eng, ev = state.engine, state.evaluation
    _, theta_cor, _ = eng.split(state.theta)
    log_w = ev.log_w if ev.log_w is not None else np.zeros(eng.N)
    V = residual_cov(eng.corstruct, theta_cor, np.exp(-np.asarray(log_w)[rows]), rows)
    for lev, F in zip(eng.levels, ev.factors):
        Z = _dense_rows(lev.Z, rows)
        codes = lev.codes[rows]
        V += (Z @ (F @ F.T) @ Z.T) * (codes[:, None] == codes[None, :])
    return V


def _check_nesting(codes, groups, labels, what):
    """Every group of ``groups`` (engine-order codes) inside one cluster."""
    pairs = pd.DataFrame({"g": groups, "c": codes}).drop_duplicates()
    counts = pairs["g"].value_counts()
    bad = counts.index[counts > 1]
    if len(bad):
        g = int(bad[0])
        name = labels[g] if labels is not None and g < len(labels) else g
        raise ValueError(
            f"vcov_robust: the clusters must nest the {what} (each inside one cluster; "
            f"clubSandwich: 'Random effects are not nested within clustering variable'); "
            f"{len(bad)} of them span several clusters, e.g. {name!r}.  Give a cluster= "
            f"that is constant within each of them (the default: the outermost grouping)")


def cluster_codes(state, cluster=None):
    """Engine-order cluster codes ``0..J-1`` and their labels.

    ``cluster``: None (lme: the outermost random-effects grouping; gls: the groups of
    the correlation structure), a column name of the fit's data, or labels per row in
    the caller's row order (the rows of the data, or only the rows the fit used).
    """
    frame = state.frame
    N = frame.N
    if cluster is None:
        if frame.levels:
            lev = frame.levels[0]
            values = np.asarray(lev.labels, dtype=object)[lev.codes]
        elif frame.corstruct is not None and getattr(frame.corstruct.form, "grouping", None):
            cs = frame.corstruct
            values = np.asarray([str(b) for b in cs.block_labels], dtype=object)[
                np.asarray(cs.row_blocks)]
        else:
            raise ValueError(
                "vcov_robust: this gls fit has no grouped correlation structure, so there "
                "is no default cluster (as clubSandwich); give cluster= as a column name "
                "of the data or an array of labels, one per row")
    else:
        source, kept = frame.source, frame.source_rows
        if isinstance(cluster, str):
            if source is None or cluster not in source.columns:
                cols = [] if source is None else list(source.columns)
                raise ValueError(f"vcov_robust: cluster={cluster!r} is not a column of the "
                                 f"fit's data (columns: {cols}); give a column name or an "
                                 f"array of labels, one per row")
            caller = source[cluster].to_numpy()[kept]
        else:
            arr = np.asarray(cluster, dtype=object)
            if arr.ndim != 1:
                raise ValueError("vcov_robust: cluster= must be a column name or a 1-d "
                                 f"array of labels, got shape {arr.shape}")
            n_source = None if source is None else len(source)
            if len(arr) == N:
                caller = arr
            elif n_source is not None and len(arr) == n_source:
                caller = arr[kept]
            else:
                sizes = f"{N}" + ("" if n_source in (None, N) else f" or {n_source}")
                raise ValueError(
                    f"vcov_robust: cluster= has {len(arr)} labels; it needs one per row of "
                    f"the data used to fit the model ({sizes}), in the data's row order")
        values = np.asarray(caller, dtype=object)[frame.order]
    if pd.isna(pd.Series(values)).any():
        raise ValueError("vcov_robust: the cluster labels cannot have missing values")
    codes, labels = pd.factorize(pd.Series(values), sort=False)
    J = len(labels)
    if J < 2:
        raise ValueError("vcov_robust: cluster-robust covariances need at least two "
                         f"clusters; cluster= gives {J}")
    for lev in frame.levels:
        _check_nesting(codes, lev.codes, lev.labels, f"random-effects groups of {lev.name}")
    cs = frame.corstruct
    if cs is not None:
        _check_nesting(codes, np.asarray(cs.row_blocks),
                       [str(b) for b in getattr(cs, "block_labels", [])],
                       "groups of the correlation structure")
    return np.asarray(codes), [str(v) for v in labels]


def _sym_power(A, power, tol=1e-12):
    """clubSandwich's ``matrix_power``: eigenvalues above ``tol`` to ``power``, others 0."""
    vals, vecs = np.linalg.eigh((A + A.T) / 2)
    vp = np.zeros_like(vals)
    keep = vals > tol
    vp[keep] = vals[keep] ** power
    return (vecs * vp) @ vecs.T


class ClusterRobust:
    """Per-cluster pieces of a fit's sandwich covariances and Satterthwaite DFs.

    Parameters
    ----------
    state : FitState
    codes : ndarray of int
        Engine-order cluster codes ``0..J-1`` (see :func:`cluster_codes`).
    M : ndarray (p, p)
        The bread ``vcov(fit) / sigma^2``.
    """

    def __init__(self, state, codes, M):
        eng, ev = state.engine, state.evaluation
        X = np.asarray(eng.X, dtype=float)
        resid = np.asarray(state.frame.y, dtype=float) - X @ np.asarray(ev.beta)
        self.M = np.asarray(M, dtype=float)
        self.N, self.p = X.shape
        self.J = int(codes.max()) + 1
        self.X, self.e, self.L, self.XW = [], [], [], []
        XWX = np.zeros((self.p, self.p))
        for j in range(self.J):
            rows = np.flatnonzero(codes == j)
            V = relative_marginal_cov(state, rows)
            L = np.linalg.cholesky(V)
            Xj = X[rows]
            XW = np.linalg.solve(V, Xj).T                     # X_j' W_j
            self.X.append(Xj)
            self.e.append(resid[rows])
            self.L.append(L)
            self.XW.append(XW)
            XWX += XW @ Xj
        self.M_U = np.linalg.inv(XWX)
        self._adj = {}

    def est_mats(self, type):
        """``E_j = X_j' W_j A_j`` of each cluster."""
        if type not in self._adj:
            J, N, p = self.J, self.N, self.p
            if type == "CR2":
                out = []
                for Xj, XW, L in zip(self.X, self.XW, self.L):
                    V = L @ L.T
                    IH = np.eye(len(Xj)) - Xj @ self.M_U @ XW
                    G = L.T @ IH @ V @ L
                    A = L @ _sym_power(G, -0.5) @ L.T
                    out.append(XW @ A)
            else:
                c = {"CR0": 1.0, "CR1": J / (J - 1), "CR1p": J / (J - p),
                     "CR1S": J * (N - 1) / ((J - 1) * (N - p))}[type]
                out = [XW * np.sqrt(c) for XW in self.XW]
            self._adj[type] = out
        return self._adj[type]

    def vcov(self, type):
        """The sandwich covariance of the fixed effects, ``(p, p)``."""
        comps = np.column_stack([E @ e for E, e in zip(self.est_mats(type), self.e)])
        return self.M @ (comps @ comps.T) @ self.M

    def satterthwaite_df(self, type):
        """clubSandwich's Satterthwaite degrees of freedom of each coefficient."""
        M = self.M
        Mc = np.linalg.cholesky(M)
        ME = [M @ E for E in self.est_mats(type)]
        g2 = np.column_stack([((me @ L) ** 2).sum(axis=1) for me, L in zip(ME, self.L)])
        H = np.stack([me @ Xj @ Mc for me, Xj in zip(ME, self.X)], axis=2)   # (p, p, J)
        df = np.empty(self.p)
        for i in range(self.p):
            P = -H[i].T @ H[i] + np.diag(g2[i])
            df[i] = np.trace(P) ** 2 / np.sum(P ** 2)
        return df

    def coef_test(self, beta, type, test):
        """Estimate, SE, t, df and two-sided p of each coefficient."""
        beta = np.asarray(beta, dtype=float)
        se = np.sqrt(np.diag(self.vcov(type)))
        t = beta / se
        if test == "z":
            df = np.full(self.p, np.inf)
            p = 2 * stats.norm.sf(np.abs(t))
        else:
            df = {"naive-t": lambda: np.full(self.p, float(self.J - 1)),
                  "naive-tp": lambda: np.full(self.p, float(self.J - self.p)),
                  "satterthwaite": lambda: self.satterthwaite_df(type)}[test]()
            p = 2 * stats.t.sf(np.abs(t), df)
        return {"Estimate": beta, "SE": se, "t": t, "df": df, "p": p}
