"""The average-information matrix of the profiled criterion (Gilmour, Thompson and
Cullis 1995, ASReml's AI-REML), the curvature the second-order optimizer steps with.

With ``H = V / sigma^2 = Z D~ Z' + Lambda`` and ``P`` the REML projection of ``H``, the
working variates of the parameters are ``w_i = H_i P y`` (``H_i = dH / d theta_i``) and
the average of the observed and expected information, ``1/2 y'P H_i P H_j P y``, is
``w_i' P w_j / (2 sigma^2)``.  Profiling ``sigma^2`` out (a Schur complement of the
full matrix) leaves::

    AI_ij = (w_i' P w_j - (w_i' P y)(w_j' P y) / y'P y) / (2 sigma^2)

Everything comes from one more pass over the rows:

* ``P y = Lambda^-1 r`` with ``r`` the conditional residuals (``y - X b - Z u``);
* random-effects parameters: ``w = Z (dD~) Z' P y`` (group sums, then row effects);
* variance weights (``Lambda = W^-1 C W^-1``): ``w = -j o r - Lambda (j o P y)`` with
  ``j = d log w / d theta``; correlation parameters: ``w = W^-1 dC C^-1 W r``;
* ``w' P w`` by the elimination itself, the working variates taking the place of ``y``
  (Henderson's equations with several right-hand sides).

Correlation blocks are handled as dense blocks (``CorStruct.dense_correlations``).  The
matrix is positive semi-definite by construction, and exact (the Hessian) for a
criterion that is quadratic in ``V``; the optimizer uses it only for its steps, the
gradient decides convergence.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve

from ..structures.correlation.patterns import bidiagonal_map

__all__ = ["average_information", "information_from_shares", "information_shares",
           "supports_average_information"]


def supports_average_information(engine):
    """Whether :func:`average_information` applies: dense (not sparse crossed) random
    effects and a differentiable correlation structure."""
    cs = engine.corstruct
    return engine.sparse is None and (cs is None or cs.differentiable)


class _Correlation:
    """Products with the correlation blocks ``C`` (and ``dC``) of a structure at
    ``theta``: blocks of two or more rows as dense stacks per pattern group."""

    def __init__(self, cs, theta, N, jacobian):
        self.N = N
        self.groups = []
        if cs is None:
            return
        for g, (C, dC) in zip(cs.dense_layout(), cs.dense_correlations(theta, jacobian)):
            pattern = np.repeat(np.arange(len(g.counts)), g.counts)
            self.groups.append((g.rows, C[pattern],
                                None if dC is None else dC[:, pattern]))

    def times(self, x, k=None):
        """``C x`` (or ``dC_k x``; zero on single rows, whose correlation is constant)."""
        out = x.copy() if k is None else np.zeros_like(x)
        for rows, C, dC in self.groups:
            M = C if k is None else dC[k]
            out[rows] = np.einsum("bij,bj->bi", M, x[rows])
        return out

    def solve(self, x):
        """``C^-1 x``."""
        out = x.copy()
        for rows, C, _ in self.groups:
            out[rows] = np.linalg.solve(C, x[rows][:, :, None])[:, :, 0]
        return out


class _BandedCorrelation:
    """The same products for a whitening that is a bidiagonal map ``U`` (AR(1), CAR(1),
    ARMA(1, 0) on monotone positions: ``C^-1 = U'U``, ``CorStruct.banded_factor``):
    ``C^-1 x = U'(U x)``, ``C x = U^-1 U^-T x`` and ``dC x = -U^-1 dU C x - C dU'
    U^-T x``, the solves with ``U`` and ``U'`` as first-order recurrences run over all
    blocks at once, one position along the blocks per step -- no dense blocks, which
    for irregular times are one per group."""

    def __init__(self, cs, theta):
        self.a, self.b, self.da, self.db, _ = cs.banded_factor(theta)
        N = self.a.size
        idx = np.arange(N)
        # a row whose b is zero starts a chain (its predecessor does not enter)
        start = self.b == 0.0
        start[0] = True
        depth = idx - np.maximum.accumulate(np.where(start, idx, 0))
        end = np.r_[start[1:], True]                 # the next row starts a chain
        height = np.minimum.accumulate(np.where(end, idx, N)[::-1])[::-1] - idx
        self._forward = _by_step(depth)
        self._backward = _by_step(height)

    def _solve(self, v, transpose=False):
        a, b = self.a, self.b
        x = np.empty_like(v)
        steps = self._backward if transpose else self._forward
        first = steps[0]
        x[first] = v[first] / a[first]
        for rows in steps[1:]:
            near = rows + 1 if transpose else rows - 1
            coef = b[near] if transpose else b[rows]
            x[rows] = (v[rows] - coef * x[near]) / a[rows]
        return x

    def times(self, x, k=None):
        """``C x`` (or ``dC_k x``)."""
        Utx = self._solve(x, transpose=True)               # U^-T x
        Cx = self._solve(Utx)
        if k is None:
            return Cx
        da, db = self.da[k], self.db[k]
        left = self._solve(bidiagonal_map(Cx, da, db))
        right = self._solve(bidiagonal_map(Utx, da, db, transpose=True), transpose=True)
        return -left - self._solve(right)

    def solve(self, x):
        """``C^-1 x``."""
        return bidiagonal_map(bidiagonal_map(x, self.a, self.b), self.a, self.b,
                              transpose=True)


def _by_step(steps):
    """Row indices grouped by their step along the chains (0 first)."""
    return [np.flatnonzero(steps == k) for k in range(int(steps.max()) + 1)]


def _group_sums(values, level):
    """Sums of the rows of ``values`` over the groups of ``level`` (rows contiguous)."""
    return np.add.reduceat(values, level.first_row, axis=0)


def working_variates(engine, theta, ev, blups):
    """``(w, Py, r)``: the working variates (``N x n_params``), ``P y`` and the
    conditional residuals at ``theta`` (``ev`` the kept evaluation there, ``blups`` its
    BLUPs in the user's design)."""
    re_theta, th_cor, th_var = engine.split(theta)
    N = engine.N
    r = engine.y - engine.fitted_inner(ev, blups)
    w_row = np.exp(ev.log_w) if ev.log_w is not None else np.ones(N)
    cs, vf = engine.corstruct, engine.varfunc
    n_cor = cs.n_params if cs is not None else 0
    cor = (_BandedCorrelation(cs, th_cor) if cs is not None and cs.is_banded else
           _Correlation(cs, th_cor, N, jacobian=n_cor > 0))
    z = cor.solve(w_row * r)                    # C^-1 W r
    Py = w_row * z
    cols = []
    for k, lev in enumerate(engine.levels):
        L = ev.factors[k]
        zv = _group_sums(lev.Z * Py[:, None], lev)              # Z_g' P y
        for dL in lev.factor_jacobian(re_theta[k]):
            dD = dL @ L.T
            dD = dD + dD.T
            cols.append(np.einsum("nq,nq->n", lev.Z, (zv @ dD.T)[lev.codes]))
    for k in range(n_cor):
        cols.append(cor.times(z, k) / w_row)
    if vf is not None and vf.n_params:
        for j in vf.log_weights_jacobian(th_var):
            cols.append(-j * r - cor.times(j * Py / w_row) / w_row)
    return np.column_stack(cols) if cols else np.zeros((N, 0)), Py, r


def average_information(engine, theta):
    """The average-information matrix (``n_params x n_params``) of the profiled
    log-likelihood at ``theta``; costs one kept evaluation (the cross-products are
    cached from the evaluation just made) and one pass with the working variates."""
    ev = engine.evaluate(theta, keep=True)
    S, wPy = information_shares(engine, theta, ev)
    return information_from_shares(S, wPy, ev)


def information_shares(engine, theta, ev):
    """The rows' share of the average information at ``theta`` (``ev`` the kept
    evaluation there, whose fixed effects and ``sigma^2`` are the whole data's):
    ``([X w]' V~^-1 [X w]`` reduced over the random effects and summed over the outermost
    groups, ``w' P y``); shares of disjoint sets of outermost groups add up."""
    blups = engine.blups(ev) if engine.levels else []
    w, Py, _ = working_variates(engine, theta, ev, blups)
    p = engine.p
    if w.shape[1] == 0:
        return np.zeros((p, p)), np.zeros(0)
    widened = engine.widened_crossproducts(w, ev.factors)
    if widened is not None:
        return widened, w.T @ Py
    _, th_cor, _ = engine.split(theta)
    n_z = engine.z_offsets[-1]
    aug = np.column_stack([engine.A[:, :n_z + p], w])
    if ev.log_w is not None:
        aug *= np.exp(ev.log_w)[:, None]
    if engine.corstruct is not None:
        aug = engine.corstruct.whiten(th_cor, aug)[0]
    return engine.reduced_crossproducts(aug, ev.factors), w.T @ Py


def information_from_shares(S, wPy, ev):
    """The average-information matrix from the summed :func:`information_shares` and the
    whole data's evaluation ``ev``: ``w'Pw`` is a Schur complement of the fixed effects,
    ``sigma^2`` is profiled out."""
    p = ev.R_X.shape[0]
    if wPy.size == 0:
        return np.zeros((0, 0))
    Sxw, Sww = S[:p, p:], S[p:, p:]
    Q = Sww - Sxw.T @ cho_solve((ev.R_X, True), Sxw)         # w' P w
    AI = (Q - np.outer(wPy, wPy) / ev.q) / (2.0 * ev.sigma2)
    return (AI + AI.T) / 2.0
