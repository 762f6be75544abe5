"""The profiled (RE)ML log-likelihood of the extended linear mixed model.

Model (rows in engine order, i.e. sorted by the grouping levels, outer to inner)::

    y = X b + sum_k Z_k u_k + e,   u_k ~ N(0, sigma^2 D~_k),   e ~ N(0, sigma^2 Lambda)
    Lambda = W^-1 C W^-1   (W: variance weights, C: block-diagonal correlation)

Evaluation follows nlme's decomposition, written with cross-products as lme4 does:

1. whiten the augmented matrix ``A = [Z_1 .. Z_Q | X | y]`` by the variance weights and
   the inverse Cholesky factors of the correlation blocks;
2. form ``A_u' A_u`` for every innermost group ``u`` (batched by group size);
3. from the innermost level outwards, eliminate each level's random effects per group
   with a Cholesky factor of ``I + L' Z'Z L`` (``D~ = L L'``) -- a Schur complement, the
   block Gaussian elimination of Henderson's equations -- and add the groups' reduced
   cross-products into their parent groups;
4. what is left is ``[X y]' V~^-1 [X y]``, which gives beta, the penalized residual sum of
   squares ``q`` and ``log|X' V~^-1 X|``.

The log-likelihood, with ``sigma^2`` profiled out (``sigma^2 = q / Nr``) is::

    l = -Nr/2 (log 2pi + 1 + log(q/Nr)) + sum log w - 1/2 sum log|C_i|
        - 1/2 sum_groups log|I + L' Z'Z L| - [REML] 1/2 log|X' V~^-1 X|

No dense ``N x N`` matrix is ever formed and no inverse is computed explicitly.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_solve, solve_triangular

from .average_information import average_information, supports_average_information
from .criterion import Criterion, profiled_criterion
from .elimination_score import EliminationScore
from .gradient import UnitAlgebra, dense_is_worthwhile
from .levels import design_transform
from .moment_start import moment_start
from .sparse_group import SparseGroup
from .linalg import (batched_cho_solve, batched_cholesky, batched_crossprod, design_transforms,
                     group_indicator, row_crossprod, size_plan, stack_times, sum_runs,
                     times_stack, tri_inverse)

__all__ = ["ProfiledLikelihood", "Evaluation", "Partial", "Criterion",
           "SharedTransforms", "profiled_criterion"]


@dataclass
class Evaluation:
    """Everything computed at one parameter vector (kept for the final fit)."""

    loglik: float
    beta: np.ndarray
    sigma2: float
    q: float
    R_X: np.ndarray            # lower Cholesky of X' V~^-1 X (columns scaled)
    log_w: np.ndarray | None
    logdet_C: float
    logdet_M: float
    logdet_X: float
    factors: list              # per level L (lower factor of D~)
    level_store: list          # per level (S before elimination, Cholesky of M)


@dataclass
class Partial:
    """A set of rows' share of the criterion (:meth:`ProfiledLikelihood.partial`):
    ``S`` the reduced cross-products of ``[X y]`` summed over its outermost groups, the
    log-determinants, and (for its own later use) the log weights, factors and the
    stored eliminations."""

    S: np.ndarray
    logdet_M: float
    logdet_C: float
    sum_log_w: float
    log_w: np.ndarray | None
    re_theta: list
    factors: list
    store: list
    elims: list

# up to this many random effects per group, their rows' cross-products are sums by
# group (sparse products, measured faster for one); beyond, batched products of each
# group's rows
_FEW_Z_COLUMNS = 1


def _eliminate_level(Szz, Szr, L):
    """One level's elimination per group: the lower Cholesky factor of
    ``M = I + L' Szz L``, its inverse, and ``K = chol^-1 L' Szr`` (the rest's reduction
    is ``K' K``)."""
    if L.shape == (1, 1):
        # one random effect: scalars per group, elementwise (numpy's batched Cholesky
        # and products of 1 x 1 matrices cost a call per group)
        chol = np.sqrt(1.0 + L[0, 0] ** 2 * Szz)
        cinv = 1.0 / chol
        return chol, cinv, (L[0, 0] * cinv) * Szr
    M = times_stack(L.T, stack_times(Szz, L))
    idx = np.arange(M.shape[1])
    M[:, idx, idx] += 1.0
    chol = batched_cholesky(M)
    cinv = tri_inverse(chol)
    return chol, cinv, stack_times(cinv, L.T) @ Szr


def _group_sum(S):
    """The sum over the first axis of a stack of matrices (one matrix-vector product:
    a tenth of the time of a strided sum)."""
    G = S.shape[0]
    return (np.ones(G) @ S.reshape(G, -1)).reshape(S.shape[1:])


def _summed_schur(S_total, K):
    """``sum_g (S_g - K_g' K_g)`` from ``S_total = sum_g S_g`` and the stacked ``K``
    (one matrix product over every group's rows)."""
    Kf = K.reshape(-1, K.shape[-1])
    return S_total - Kf.T @ Kf


class _Cells:
    """Rows grouped into (group, stratum) cells, ordered by group; ``S`` holds each
    cell's unweighted cross-products, ``row`` one row of each cell, ``n`` their sizes,
    ``group`` their groups and ``group_plan`` the cells as runs per group."""

    def __init__(self, A, groups, strata):
        key = groups * (int(strata.max()) + 1) + strata
        order = np.argsort(key, kind="stable")
        key = key[order]
        first = np.flatnonzero(np.r_[True, np.diff(key) != 0])
        self.S = batched_crossprod(A[order], size_plan(key, first.size), first.size)
        self.row = order[first]
        self.n = np.diff(np.r_[first, len(key)]).astype(float)
        self.n_cells = first.size
        self.group = groups[self.row]
        self.group_plan = size_plan(self.group, int(self.group[-1]) + 1)


@dataclass
class SharedTransforms:
    """The data-dependent choices of the engine's coordinates, given instead of computed
    when the rows are one partition of larger data (all partitions must agree): the
    random-effects design transforms per level, the fixed-effects transform ``xT`` and
    the response's centring ``b0`` (see :class:`ProfiledLikelihood`)."""

    level_transforms: list | None = None
    xT: np.ndarray | None = None
    b0: np.ndarray | None = None


class ProfiledLikelihood(EliminationScore):
    """Profiled (RE)ML log-likelihood over the variance parameters.

    Parameters
    ----------
    y : ndarray (N,)
    X : ndarray (N, p), full column rank
    levels : list of Level, outermost first (may be empty: a gls model)
    varfunc : VarFunc or None, initialized on the engine-ordered data
    corstruct : CorStruct or None, initialized with blocks nested in the innermost level
    reml : bool
    reparameterize : bool
        Work on a centred and scaled design for general covariances (default).
    shared : SharedTransforms, optional
        The coordinates' transforms of the whole data, when these rows are a partition.

    The parameter vector is ``[levels (outer to inner), corstruct, varfunc]``, all on
    unconstrained scales.
    """

    def __init__(self, y, X, levels, varfunc=None, corstruct=None, reml=True,
                 reparameterize=True, shared=None):
        self.y = np.asarray(y, dtype=float)
        X = np.asarray(X, dtype=float)
        self.N, self.p = X.shape
        # the user's levels, and the engine's: a general covariance works on a centred
        # and scaled design (design_transform); theta always refers to the engine's
        self.user_levels = list(levels)
        # ``shared``: the whole data's transforms when these rows are one partition of it
        shared = shared or SharedTransforms()
        self.transforms = (list(shared.level_transforms) if shared.level_transforms
                           is not None else [design_transform(lev) if reparameterize
                                             else None for lev in self.user_levels])
        self.levels = [lev if A is None else dataclasses.replace(lev, Z=lev.Z @ A)
                       for lev, A in zip(self.user_levels, self.transforms)]
        self.varfunc = varfunc
        self.corstruct = corstruct
        self.reml = bool(reml)
        self.Nr = self.N - self.p if self.reml else self.N
        # the engine's fixed-effects design X T has orthogonal columns of unit RMS: well
        # conditioned normal equations whatever the covariates' origins and units
        self.X = X
        # the engine's response is y less its least-squares fit on X (b0): the criterion
        # is the same (beta moves by b0), and q = y'V^-1y - c'c no longer cancels the
        # digits of a large mean of y (y + 446 lost five of them)
        if shared.xT is None or shared.b0 is None:
            xT, b0 = design_transforms(X, self.y)
        self.xT = xT if shared.xT is None else shared.xT
        self.b0 = b0 if shared.b0 is None else shared.b0
        self.logdet_T = float(np.log(np.abs(np.diag(self.xT))).sum())
        # one group of crossed effects with a sparse design: its own elimination
        sparse = len(self.levels) == 1 and sp.issparse(self.levels[0].Z)
        Zs = [] if sparse else [lev.Z for lev in self.levels]
        # row-major: every pass over the data (whitening, cross-products per group,
        # scores) works on whole rows; filled in place (stacking copies twice)
        offs = np.cumsum([0] + [0 if sparse else lev.q for lev in self.levels])
        self.A = np.empty((self.N, offs[-1] + self.p + 1))
        for Z, lo, hi in zip(Zs, offs[:-1], offs[1:]):
            self.A[:, lo:hi] = Z
        np.matmul(X, self.xT, out=self.A[:, offs[-1]:-1])
        np.subtract(self.y, X @ self.b0, out=self.A[:, -1])
        self.z_offsets = offs
        self.sparse = (SparseGroup(self.levels[0].Z, self.levels[0].pd, self.A)
                       if sparse else None)
        if sparse and corstruct is not None:
            raise NotImplementedError("a correlation structure with crossed random effects "
                                      "on a sparse design")
        if self.levels:
            inner = self.levels[-1]
            self._plan = size_plan(inner.codes, inner.n_groups)
            # the groups of level k as runs within their parents of level k-1
            parents = [None] + [self.levels[k - 1].codes[self.levels[k].first_row]
                                for k in range(1, len(self.levels))]
            self._parent_plans = [None] + [
                size_plan(parents[k], self.levels[k - 1].n_groups)
                for k in range(1, len(self.levels))]
            # the rows of the groups' stacked K (q_k rows each) as runs within the parents
            self._parent_row_plans = [None] + [
                size_plan(np.repeat(parents[k], self.levels[k].q), self.levels[k - 1].n_groups)
                for k in range(1, len(self.levels))]
            # the data's rows as runs within the innermost groups' parents
            self._outer_row_plan = (size_plan(self.levels[-2].codes, self.levels[-2].n_groups)
                                    if len(self.levels) > 1 else None)
        self._set_sizes()

    # -- parameter bookkeeping ---------------------------------------------------
    def _set_sizes(self):
        """The parameter vector's blocks: each level's, the correlation's, the variance
        function's."""
        sizes = [lev.n_params for lev in self.levels]
        sizes.append(self.corstruct.n_params if self.corstruct is not None else 0)
        sizes.append(self.varfunc.n_params if self.varfunc is not None else 0)
        self._sizes = sizes
        self.n_params = int(sum(sizes))

    def split(self, theta):
        theta = np.asarray(theta, dtype=float)
        parts, lo = [], 0
        for n in self._sizes:                  # (slices: np.split costs ~20x more)
            parts.append(theta[lo:lo + n])
            lo += n
        return parts[:-2], parts[-2], parts[-1]

    def start(self):
        parts = [lev.start() for lev in self.levels]
        parts.append(self.corstruct.start() if self.corstruct is not None and
                     self.corstruct.n_params else np.zeros(0))
        parts.append(self.varfunc.start() if self.varfunc is not None and
                     self.varfunc.n_params else np.zeros(0))
        return np.concatenate(parts) if parts else np.zeros(0)

    def data_start(self):
        """:meth:`start` with the random effects' part matched to the residuals' moments
        where :func:`~lmmext.engine.moment_start.moment_start` applies (nlme's start
        remains the optimizer's scale of reference)."""
        theta = self.start()
        matched = moment_start(self, theta)
        if matched is not None:
            theta[:matched.size] = matched
        return theta

    def param_names(self):
        names = []
        for lev in self.levels:
            names += [f"re.{lev.name}.{i}" for i in range(lev.n_params)]
        if self.corstruct is not None:
            names += [f"cor.{n}" for n in self.corstruct.param_names()]
        if self.varfunc is not None:
            names += [f"var.{n}" for n in self.varfunc.param_names()]
        return names

    # -- evaluation ----------------------------------------------------------------
    def whitened(self, theta_cor, log_w):
        """The augmented rows multiplied by the weights (``WA``), then by the inverse
        correlation factors (``A~``); returns ``(WA, A~, log|C|)``."""
        WA = self.A if log_w is None else self.A * np.exp(log_w)[:, None]
        if self.corstruct is None:
            return WA, WA, 0.0
        At, logdet_C = self.corstruct.whiten(theta_cor, WA)
        return WA, At, logdet_C

    def evaluate(self, theta, keep=False, gradient=False):
        # parameters where a structure degenerates (a correlation of exactly 1, an
        # overflowing weight) are infeasible, not warnings: the optimizer steps back
        # (not with a fitted-values covariate: it changes under the same theta)
        if keep and not gradient and not getattr(self.varfunc, "uses_fitted", False):
            last = getattr(self, "_last_evaluation", None)
            if last is not None and last[0] == np.asarray(theta, dtype=float).tobytes():
                return last[1]
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            return self._evaluate(theta, keep, gradient)

    def loglik_at_beta(self, theta, beta):
        """The criterion with the fixed effects held at ``beta`` (``sigma^2`` still
        profiled out): ``q`` grows by ``(b - b^)' X'V~^-1X (b - b^)``.  This is
        statsmodels' ``loglike(params, profile_fe=False)``, here for every structure."""
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            return self._evaluate(theta, False, beta=np.asarray(beta, dtype=float))

    def _crossproducts(self, theta_cor, theta_var):
        """Whitened cross-products per innermost group (one matrix for a gls), with
        ``log w`` and ``log|C|``.  They depend on the correlation parameters and the
        weights only, so the last ones are kept: evaluations that change only
        random-effects parameters reuse them.  The key is the weights themselves, not
        their parameters, so a changed fitted-values covariate is never served stale.
        With weights constant per stratum and no correlation (VarIdent), the
        cross-products of every (group, stratum) cell are formed once and rescaled."""
        log_w = self.varfunc.log_weights(theta_var) if self.varfunc is not None else None
        key = np.asarray(theta_cor, dtype=float).tobytes()
        cached = getattr(self, "_cross_cache", None)
        if (cached is not None and cached[0] == key
                and (log_w is None or np.array_equal(cached[1], log_w))):
            return cached[2], log_w, cached[3]
        cells = self._cells
        total = None
        if cells is not None:
            w2 = np.exp(2.0 * log_w[cells.row])
            if self.levels:
                S = sum_runs(cells.S * w2[:, None, None], cells.group_plan,
                             self.levels[-1].n_groups)
            else:
                S = np.tensordot(w2, cells.S, axes=1)
            WA, logdet_C = None, 0.0
        else:
            WA, At, logdet_C = self.whitened(theta_cor, log_w)
            S, total = self._group_crossproducts(At)
        # the weighted rows are kept too: the score of the residual parameters uses them
        self._cross_cache = (key, log_w, (S, total), logdet_C, WA)
        return (S, total), log_w, logdet_C

    @property
    def _cells(self):
        """The (group, stratum) cells of stratum-constant weights without correlation,
        with their unweighted cross-products (built once), or ``None``."""
        if not hasattr(self, "_cells_store"):
            vf = self.varfunc
            strata = (vf.stratum_codes if vf is not None and vf.n_params and
                      self.corstruct is None and self.sparse is None else None)
            self._cells_store = None if strata is None else _Cells(
                self.A, self.levels[-1].codes if self.levels else np.zeros(self.N, int),
                np.asarray(strata, dtype=np.int64))
        return self._cells_store

    def _evaluate(self, theta, keep, gradient=False, beta=None):
        part = self.partial(theta, keep, gradient)
        crit = profiled_criterion(part, self.p, self.Nr, self.reml, self.logdet_T,
                                  None if beta is None else self._engine_beta(beta))
        if gradient and self.sparse is not None:
            Hinv = cho_solve((crit.R, True), np.eye(self.p))
            return crit.loglik, self.sparse.re_score(part.re_theta[0], part.store[0][1], Hinv,
                                                     crit.beta_s, crit.sigma2, self.reml)
        if gradient and self.sparse is None and beta is None:
            # what a kept evaluation would return here, for the average-information
            # pass that follows the gradient at the same point
            self._last_evaluation = (np.asarray(theta, dtype=float).tobytes(),
                                     self.evaluation(part, crit))
        if gradient:
            return crit.loglik, self.score(theta, part, crit.R, crit.beta_s, crit.sigma2)
        if not keep:
            return crit.loglik
        return self.evaluation(part, crit)

    def evaluation(self, part, crit):
        """The kept :class:`Evaluation` of a :meth:`partial` result and its criterion."""
        return Evaluation(crit.loglik, self.b0 + self.xT @ crit.beta_s, crit.sigma2, crit.q,
                          crit.R, part.log_w, part.logdet_C, part.logdet_M, crit.logdet_X,
                          part.factors, part.store)

    def partial(self, theta, keep=False, gradient=False):
        """The rows' share of the criterion at ``theta``: the reduced cross-products of
        ``[X y]`` summed over the outermost groups and the log-determinants
        (:class:`Partial`).  Sums over disjoint sets of outermost groups add up, which is
        what a distributed evaluation reduces (:mod:`lmmext.cluster`)."""
        re_theta, theta_cor, theta_var = self.split(theta)
        (S, total), log_w, logdet_C = self._crossproducts(theta_cor, theta_var)
        store, elims = [], [None] * len(self.levels)
        logdet_M = 0.0
        if self.sparse is not None:
            logdet_M, BMB, X = self.sparse.eliminate(re_theta[0], log_w)
            S = S[0] - BMB
            factors = [self.levels[0].factor(re_theta[0])] if keep else []
            store = [(None, X)]
        else:
            factors = [lev.factor(t) for lev, t in zip(self.levels, re_theta)]
        if self.levels and self.sparse is None:
            S, logdet_M, store, elims = self.eliminate(S, factors, keep or gradient,
                                                       gradient, total)
        sum_log_w = float(log_w.sum()) if log_w is not None else 0.0
        return Partial(S, logdet_M, logdet_C, sum_log_w, log_w, re_theta, factors, store,
                       elims)

    def score(self, theta, part, R_X, beta_s, sigma2):
        """The score at ``theta`` of the rows of a :meth:`partial` result made with
        ``gradient=True``, given the fixed effects' factor ``R_X``, ``beta_s`` and
        ``sigma2`` of the whole data (the score is a sum over outermost groups)."""
        _, theta_cor, theta_var = self.split(theta)
        if not self.schur_gradient:
            # the per-unit dense algebra (dense correlation blocks)
            return self.analytic.score(theta, beta_s, sigma2,
                                       cho_solve((R_X, True), np.eye(self.p)))
        if len(self.levels) > 1:
            return self._nested_score(part.re_theta, part.factors, part.elims, theta_cor,
                                      theta_var, part.log_w, R_X, beta_s, sigma2)
        elim = ((part.re_theta[0], part.factors[0], *part.elims[0]) if self.levels
                else None)
        return self._elimination_score(elim, theta_cor, theta_var, part.log_w, R_X, beta_s,
                                       sigma2)

    def eliminate(self, S, factors, keep=False, gradient=False, total=None):
        """Eliminate the random effects of every level from the innermost groups'
        cross-products ``S`` (``(G, m, m)`` over ``[Z_1 .. Z_Q | rest]``), innermost
        level first: per group a Cholesky factor of ``M_g = I + L' S_zz L`` and the
        Schur complement of the rest, summed into the parent groups.  ``S`` may hold
        each group's rows of its own level's ``Z`` only (``(G, q_Q, m)``) and ``total``
        the sums of the whole cross-products over the groups of each parent (``(P, m,
        m)``; one level: over all groups, ``(m, m)``): the rest's block is needed summed
        only.

        Returns ``(S_rest, log|M|, store, elims)``: the rest's reduced cross-products
        (summed over the outermost groups), the log-determinant, per level ``(S, chol)``
        with ``keep`` and ``(chol^-1, K)`` with ``gradient``."""
        store, elims = [], [None] * len(self.levels)
        logdet_M = 0.0
        for k in range(len(self.levels) - 1, -1, -1):
            lo, hi = self.z_offsets[k], self.z_offsets[k + 1]
            rest = np.r_[0:lo, hi:S.shape[2]]
            own = slice(None) if S.shape[1] < S.shape[2] else slice(lo, hi)   # its Z rows
            chol, cinv, K = _eliminate_level(S[:, own, lo:hi], S[:, own, rest], factors[k])
            if gradient:
                elims[k] = (cinv, K)
            logdet_M += 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum()
            if keep:
                store.append((S, chol))
            if k > 0:
                # summed into the parents: sum S_g - (the parent's stacked K rows)'(same),
                # one product per parent instead of one small product per group
                P = self.levels[k - 1].n_groups
                summed = sum_runs(S, self._parent_plans[k], P) if total is None else total
                S = (summed[:, rest[:, None], rest]
                     - batched_crossprod(K.reshape(-1, K.shape[-1]),
                                         self._parent_row_plans[k], P))
                total = None
            else:
                # the outermost level (lo = 0): only the sum over its groups is needed
                S = _summed_schur((_group_sum(S) if total is None else total)[hi:, hi:], K)
        store.reverse()
        return S, logdet_M, store, elims

    def _group_crossproducts(self, At, total=True):
        """The innermost groups' cross-products of whitened rows ``At`` whose first
        columns are the random-effects design's (``Z``), as :meth:`eliminate` takes them:
        ``(S, total)``.  With one level only each group's ``Z`` rows (``(G, q, m)``) and
        their sum over the groups by one product (the elimination needs no more: a tenth
        of the work of every group's whole cross-products; not formed without ``total``);
        a gls gives one matrix."""
        if not self.levels:
            return At.T @ At, None
        G = self.levels[-1].n_groups
        if self.sparse is not None:
            return batched_crossprod(At, self._plan, G), None
        if len(self.levels) == 1:
            q = self.z_offsets[1]
            if q <= _FEW_Z_COLUMNS:
                if not hasattr(self, "_indicator"):
                    self._indicator = group_indicator(self.levels[0].codes, G)
                return row_crossprod(At, self._indicator, q), At.T @ At if total else None
            return batched_crossprod(At, self._plan, G, rows=q), At.T @ At if total else None
        # nested: the innermost groups' own Z rows, and the whole cross-products of their
        # parents' rows (few large products)
        own = slice(self.z_offsets[-2], self.z_offsets[-1])
        return (batched_crossprod(At, self._plan, G, rows=own),
                batched_crossprod(At, self._outer_row_plan, self.levels[-2].n_groups))

    def widened_crossproducts(self, W, factors):
        """:meth:`reduced_crossproducts` of ``[Z X W]`` (the rows neither weighted nor
        whitened, one level of random effects), or ``None`` for other models: the ``[Z
        X]`` blocks are the evaluation's cached cross-products, only ``W``'s are formed
        (for the average information's few working variates, a fraction of the work)."""
        cached = getattr(self, "_cross_cache", None)
        if (len(self.levels) != 1 or self.sparse is not None or self.corstruct is not None
                or self.varfunc is not None or cached is None or cached[2][1] is None):
            return None
        S, total = cached[2]
        n_z = self.z_offsets[-1]
        n = n_z + self.p
        S_w, _ = self._group_crossproducts(np.column_stack([self.A[:, :n_z], W]),
                                           total=False)
        cross = self.A[:, :n].T @ W
        widened = np.block([[total[:n, :n], cross], [cross.T, W.T @ W]])
        return self.eliminate(np.concatenate([S[:, :, :n], S_w[:, :, n_z:]], axis=2),
                              factors, total=widened)[0]

    def reduced_crossproducts(self, At, factors):
        """``[rest]' V~^-1 [rest]`` summed over the outermost groups, for whitened rows
        ``At`` whose first columns are ``Z``, with the random effects eliminated by the
        ``factors`` (the average information's widened cross-products)."""
        S, total = self._group_crossproducts(At)
        return self.eliminate(S, factors, total=total)[0] if self.levels else S

    def loglik(self, theta):
        return self.evaluate(theta)

    @property
    def analytic(self):
        """The per-unit dense algebra giving the analytic gradient, or ``None`` when the
        units are too large for it to pay (then gradients are finite differences)."""
        if not hasattr(self, "_analytic"):
            smooth = self.corstruct is None or self.corstruct.differentiable
            self._analytic = (UnitAlgebra(self) if smooth and self.sparse is None
                              and dense_is_worthwhile(self) else None)
        return self._analytic

    @property
    def supports_average_information(self):
        """Whether :meth:`average_information` applies (see
        :func:`lmmext.engine.average_information.supports_average_information`)."""
        return supports_average_information(self)

    def average_information(self, theta):
        """The average-information matrix at ``theta``
        (:func:`lmmext.engine.average_information.average_information`)."""
        return average_information(self, theta)

    def value_and_gradient(self, theta):
        """``(loglik, d loglik / d theta)``: from the elimination itself where
        :attr:`schur_gradient`, else by :mod:`lmmext.engine.gradient`."""
        if self.sparse is not None:
            return self._sparse_value_and_gradient(theta)
        if self.schur_gradient:
            return self.evaluate(theta, gradient=True)
        with np.errstate(divide="raise", invalid="raise", over="raise"):
            return self.analytic.value_and_gradient(theta)

    @property
    def has_gradient(self):
        """Whether :meth:`value_and_gradient` is available (else finite differences)."""
        if self.sparse is not None:
            return self.sparse.has_score
        return self.schur_gradient or self.analytic is not None

    def _sparse_value_and_gradient(self, theta):
        """Crossed effects on a sparse design: the random effects' score analytically
        (:meth:`SparseGroup.re_score`), the variance function's by central differences."""
        theta = np.asarray(theta, dtype=float)
        ll, g_re = self.evaluate(theta, gradient=True)
        n_re = g_re.size
        grad = np.zeros(theta.size)
        grad[:n_re] = g_re
        for i in range(n_re, theta.size):
            h = 1e-5 * max(1.0, abs(theta[i]))
            e = np.zeros_like(theta)
            e[i] = h
            grad[i] = (self.evaluate(theta + e) - self.evaluate(theta - e)) / (2 * h)
        return ll, grad

    def _engine_beta(self, beta):
        """The user's fixed effects on the engine's design and response."""
        return solve_triangular(self.xT, beta - self.b0, lower=False)

    # -- the user's coordinates of the random effects -----------------------------------
    def user_factor(self, k, L):
        """A factor of level ``k``'s relative covariance in the user's design (``A L``:
        not triangular, but ``D~ = (A L)(A L)'``)."""
        A = self.transforms[k]
        return L if A is None else A @ L

    def user_factors(self, ev):
        """:meth:`user_factor` of every level at an evaluation."""
        return [self.user_factor(k, L) for k, L in enumerate(ev.factors)]

    def theta_from_user_cov(self, k, D):
        """Level ``k``'s engine parameters for a relative covariance ``D~`` of the user's
        design (raises ``LinAlgError`` unless it is positive definite)."""
        A = self.transforms[k]
        if A is not None:
            Ainv = np.linalg.inv(A)
            D = Ainv @ D @ Ainv.T
        return self.levels[k].unfactor(np.linalg.cholesky((D + D.T) / 2))

    # -- quantities at the optimum ------------------------------------------------------
    def cov_beta(self, ev):
        """``sigma^2 (X' V~^-1 X)^-1`` in the original column scaling."""
        Rinv = solve_triangular(ev.R_X, np.eye(self.p), lower=True)
        cov = ev.sigma2 * (Rinv.T @ Rinv)
        return self.xT @ cov @ self.xT.T

    def blups(self, ev):
        """BLUPs per level (list of arrays (n_groups, q)) in the user's design, outer
        level first, by back substitution through the stored eliminations (Henderson's
        equations)."""
        out = []
        p = self.p
        beta_s = self._engine_beta(ev.beta)
        if self.sparse is not None:
            re_theta = self.levels[0].unfactor(ev.factors[0])
            return [self.sparse.blups(re_theta, ev.level_store[0][1], beta_s)]
        for k, lev in enumerate(self.levels):
            S, chol = ev.level_store[k]
            lo, hi = self.z_offsets[k], self.z_offsets[k + 1]
            m = S.shape[2]
            Sz = S if S.shape[1] < m else S[:, lo:hi]        # the level's own Z rows
            xcols = np.arange(m - p - 1, m - 1)
            rhs = Sz[:, :, m - 1] - Sz[:, :, xcols] @ beta_s
            for j in range(k):
                lj, hj = self.z_offsets[j], self.z_offsets[j + 1]
                anc = self.levels[j].codes[lev.first_row]
                rhs = rhs - np.einsum("gab,gb->ga", Sz[:, :, lj:hj], out[j][anc])
            L = ev.factors[k]
            t = batched_cho_solve(chol, (rhs @ L)[:, :, None])        # (L' rhs_g)
            out.append(t[:, :, 0] @ L.T)
        # in the user's design: Z b = (Z A)(A^-1 b)
        return [b if A is None else b @ A.T for b, A in zip(out, self.transforms)]

    def fitted_inner(self, ev, blups):
        mu = self.X @ ev.beta
        for lev, b in zip(self.user_levels, blups):
            mu = mu + lev.row_effects(b)
        return mu
