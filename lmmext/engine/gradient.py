"""The profiled (RE)ML criterion and its analytic gradient by dense algebra per unit.

``V~ = Lambda + sum_k Z_k D~_k Z_k'`` is block diagonal over *units*: the groups of the
outermost random-effects level (in a gls: the correlation blocks, or single rows).  When
units are small -- longitudinal data, a few to a few dozen rows each -- every ``V~_i``
is formed and factored as one batch of small matrices per unit size, and the gradient
of the profiled log-likelihood (``sigma^2`` profiled out) is::

    dl/dtheta_j = -1/2 sum_i < Q_i, dV~_i / dtheta_j >
    Q_i = P_ii - u_i u_i' / sigma^2,   u = P y = V~^-1 (y - X beta)
    P_ii = V_i^-1 - V_i^-1 X_i (X' V~^-1 X)^-1 X_i' V_i^-1      (REML; V_i^-1 for ML)

with ``< , >`` the elementwise (Frobenius) product.  The derivative matrices are never
formed for random-effects and variance parameters:

* random-effects level ``k`` (``D~ = L L'``, ``M_k`` = same level-``k`` group):
  ``< Q, (Z dD Z') o M_k > = < dD, T_k >`` with ``T_k = sum_i Z_i' (Q_i o M_k) Z_i``;
* variance weights (``Lambda_ab = C_ab / (w_a w_b)``, ``g = d log w``):
  ``dLambda_ab = -(g_a + g_b) Lambda_ab``, so the component is ``sum_a g_a s_a`` with
  ``s_a = sum_b Q_ab Lambda_ab``;
* correlation parameters: ``< Q o (1/w 1/w'), dC >`` summed per block pattern.

The cost is ``O(sum_i n_i^3 + sum_i n_i^2 (p + q))`` per evaluation, with no Python
loop over units.  The engine uses this route only where the score does not come from
the elimination itself (``ProfiledLikelihood.schur_gradient``: nested levels, dense
correlation blocks, several random effects with a correlation structure); for large
units it keeps finite-difference gradients instead (see
``ProfiledLikelihood.value_and_gradient``).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.linalg import cho_solve

from .criterion import profiled_criterion
from .linalg import size_plan, tri_inverse

__all__ = ["UnitAlgebra", "dense_is_worthwhile"]

# memory ceiling of the dense path: elements of one stacked (units, n, n) array
_MAX_DENSE_ELEMENTS = 3e7


def _unit_codes(engine):
    if engine.levels:
        return engine.levels[0].codes
    if engine.corstruct is not None:
        return np.asarray(engine.corstruct.row_blocks)
    return np.arange(engine.N)


def dense_is_worthwhile(engine):
    """Whether per-unit dense algebra beats finite differences of the Schur evaluation."""
    codes = _unit_codes(engine)
    n = np.bincount(codes).astype(float)
    if (n ** 2).sum() > _MAX_DENSE_ELEMENTS:
        return False
    m = engine.A.shape[1]
    schur = engine.N * m * m
    if engine.corstruct is not None:
        b = np.bincount(np.asarray(engine.corstruct.row_blocks)).astype(float)
        schur += (b ** 3).sum()
    dense = (n ** 3).sum() + (n ** 2).sum() * m
    return dense <= max(2e8, 4.0 * (2 * engine.n_params + 1) * schur)


class _Batch:
    """Units of one size ``n``: their rows, designs and level masks."""

    def __init__(self, engine, rows):
        self.rows = rows                                   # (G, n)
        G, n = rows.shape
        zend = engine.z_offsets[-1]
        self.XY = engine.A[rows][:, :, zend:]              # scaled X and y: (G, n, p + 1)
        self.Z, self.masks = [], []
        for k, lev in enumerate(engine.levels):
            lo, hi = engine.z_offsets[k], engine.z_offsets[k + 1]
            self.Z.append(engine.A[rows][:, :, lo:hi])
            mask = None
            if k > 0:
                c = lev.codes[rows]
                mask = c[:, :, None] == c[:, None, :]
                if mask.all():
                    mask = None
            self.masks.append(mask)


class _CorEntry:
    """The correlation blocks of one pattern group that lie in one batch of units."""

    def __init__(self, pattern, unit, pos, unit_size):
        self.pattern, self.unit, self.pos = pattern, unit, pos
        # blocks that are whole units (the usual case) need no scatter by position
        self.whole = pos.shape[1] == unit_size and bool(
            np.all(pos == np.arange(unit_size)))
        # the patterns come sorted: sum blocks per pattern with reduceat
        self.runs = np.flatnonzero(np.r_[True, np.diff(pattern) != 0])
        self.run_pattern = pattern[self.runs]

    def put(self, target, values):
        if self.whole:
            target[self.unit] = values
        else:
            u, p = self.unit, self.pos
            target[u[:, None, None], p[:, :, None], p[:, None, :]] = values

    def take(self, source):
        if self.whole:
            return source[self.unit]
        u, p = self.unit, self.pos
        return source[u[:, None, None], p[:, :, None], p[:, None, :]]

    def inv_w(self, iw):
        """Inverse weights of the blocks' rows, from the batch's (G, n) array."""
        return iw[self.unit] if self.whole else iw[self.unit[:, None], self.pos]

    def sum_by_pattern(self, values, out):
        out[self.run_pattern] += np.add.reduceat(values, self.runs, axis=0)


class UnitAlgebra:
    """Value and gradient of ``engine``'s criterion by dense algebra per unit."""

    def __init__(self, engine):
        self.engine = engine
        codes = _unit_codes(engine)
        n_units = int(codes.max()) + 1 if codes.size else 0
        self.batches = [_Batch(engine, rows) for rows, _ in size_plan(codes, n_units)]
        # where every row sits: batch, unit within the batch, position within the unit
        N = engine.N
        self._row_batch = np.empty(N, dtype=np.int64)
        self._row_unit = np.empty(N, dtype=np.int64)
        self._row_pos = np.empty(N, dtype=np.int64)
        for s, b in enumerate(self.batches):
            G, n = b.rows.shape
            self._row_batch[b.rows] = s
            self._row_unit[b.rows] = np.arange(G)[:, None]
            self._row_pos[b.rows] = np.arange(n)[None, :]
        self._cor_by_batch = self._setup_cor_scatter()

    def _setup_cor_scatter(self):
        """Per batch, the correlation blocks in it: ``(pattern group index, entry)``
        with the blocks' pattern index, their unit in the batch and the rows' positions
        in that unit."""
        out = [[] for _ in self.batches]
        cs = self.engine.corstruct
        if cs is None:
            return out
        for gi, g in enumerate(cs.dense_layout()):
            pattern = np.repeat(np.arange(len(g.counts)), g.counts)
            batch = self._row_batch[g.rows[:, 0]]
            for s in np.unique(batch):
                sel = np.flatnonzero(batch == s)
                rows = g.rows[sel]
                out[s].append((gi, _CorEntry(pattern[sel], self._row_unit[rows[:, 0]],
                                             self._row_pos[rows],
                                             self.batches[s].rows.shape[1])))
        return out

    def value_and_gradient(self, theta):
        """``(loglik, gradient)`` at the unconstrained parameters ``theta``."""
        eng = self.engine
        S, logdet_V, units = self._factor_units(theta)
        # log|V~| whole: the weights and correlation are inside the units' factors
        crit = profiled_criterion(SimpleNamespace(S=S, logdet_M=0.0, logdet_C=logdet_V,
                                                  sum_log_w=0.0),
                                  eng.p, eng.Nr, eng.reml, eng.logdet_T)
        return crit.loglik, self._score(theta, units, crit.beta_s, crit.sigma2,
                                        cho_solve((crit.R, True), np.eye(eng.p)))

    def score(self, theta, beta_s, sigma2, Hinv):
        """These units' share of the score at ``theta``, given the whole data's fixed
        effects ``beta_s``, ``sigma2`` and ``(X' V~^-1 X)^-1`` (engine scale): the
        gradient is a sum over units of contractions with ``Q_i``."""
        return self._score(theta, self._factor_units(theta)[2], beta_s, sigma2, Hinv)

    def _factor_units(self, theta):
        """Pass 1: ``V~`` per unit, its Cholesky factor, and ``[X y]' V~^-1 [X y]``:
        ``(S, log|V~|, per batch (Lambda, factor^-1, 1/w))``."""
        eng = self.engine
        p, N = eng.p, eng.N
        re_theta, th_cor, th_var = eng.split(theta)
        vf, cs = eng.varfunc, eng.corstruct
        log_w = vf.log_weights(th_var) if vf is not None else np.zeros(N)
        inv_w = np.exp(-log_w)
        cor = cs.dense_correlations(th_cor, jacobian=True) if cs is not None else []
        for C, _ in ([] if cs is None or cs.positive_definite(th_cor) else cor):
            # feasible only where the correlation itself is positive definite, as in the
            # whitening route (V~ alone may still be, e.g. with a random intercept); a
            # pivot at rounding level is a singular matrix
            pivots = np.diagonal(np.linalg.cholesky(C), axis1=1, axis2=2)
            if not pivots.min() > 1e-7:
                raise FloatingPointError("a correlation matrix is singular")
        unweighted = vf is None
        factors = [lev.factor(t) for lev, t in zip(eng.levels, re_theta)]
        D = [L @ L.T for L in factors]

        # pass 1: V~ per unit, its Cholesky factor, and [X y]' V~^-1 [X y]
        S = np.zeros((p + 1, p + 1))
        logdet_V = 0.0
        kept = []
        for s, b in enumerate(self.batches):
            G, n = b.rows.shape
            iw = inv_w[b.rows]
            Lam = np.zeros((G, n, n))
            idx = np.arange(n)
            Lam[:, idx, idx] = iw * iw
            for gi, e in self._cor_by_batch[s]:
                Cb = cor[gi][0][e.pattern]
                if not unweighted:
                    iwb = e.inv_w(iw)
                    Cb *= iwb[:, :, None] * iwb[:, None, :]
                e.put(Lam, Cb)
            V = Lam.copy()
            for Z, mask, Dk in zip(b.Z, b.masks, D):
                ZDZ = np.matmul(Z @ Dk, Z.transpose(0, 2, 1))
                V += ZDZ if mask is None else ZDZ * mask
            try:
                Lc = np.linalg.cholesky(V)
            except np.linalg.LinAlgError:
                raise FloatingPointError("a unit's covariance matrix is not positive definite") from None
            logdet_V += 2.0 * np.log(np.diagonal(Lc, axis1=1, axis2=2)).sum()
            Linv = tri_inverse(Lc)
            W = Linv @ b.XY
            S += np.tensordot(W, W, axes=([0, 1], [0, 1]))
            kept.append((Lam, Linv, iw))
        return S, logdet_V, (kept, cor, factors)

    def _score(self, theta, units, beta_s, sigma2, Hinv):
        """Pass 2: ``Q`` per unit, contracted with each parameter's derivative."""
        eng = self.engine
        p, N = eng.p, eng.N
        re_theta, th_cor, th_var = eng.split(theta)
        vf, cs = eng.varfunc, eng.corstruct
        unweighted = vf is None
        kept, cor, factors = units
        T = [np.zeros((lev.q, lev.q)) for lev in eng.levels]
        n_var = vf.n_params if vf is not None else 0
        n_cor = cs.n_params if cs is not None else 0
        s_row = np.zeros(N) if n_var else None
        Qpat = [np.zeros_like(C) for C, _ in cor] if n_cor else None
        for s, (b, (Lam, Linv, iw)) in enumerate(zip(self.batches, kept)):
            Vinv = np.matmul(Linv.transpose(0, 2, 1), Linv)
            X, y = b.XY[:, :, :p], b.XY[:, :, p]
            u = np.einsum("gab,gb->ga", Vinv, y - X @ beta_s)
            Q = Vinv - u[:, :, None] * u[:, None, :] / sigma2
            if eng.reml:
                F = Vinv @ X
                Q -= np.matmul(F @ Hinv, F.transpose(0, 2, 1))
            for k, (Z, mask) in enumerate(zip(b.Z, b.masks)):
                Qm = Q if mask is None else Q * mask
                T[k] += np.tensordot(Z, Qm @ Z, axes=([0, 1], [0, 1]))
            if n_var:
                s_row[b.rows] = (Q * Lam).sum(axis=2)
            if n_cor:
                for gi, e in self._cor_by_batch[s]:
                    Qb = e.take(Q)
                    if not unweighted:
                        iwb = e.inv_w(iw)
                        Qb = Qb * iwb[:, :, None] * iwb[:, None, :]
                    e.sum_by_pattern(Qb, Qpat[gi])

        grad = []
        for lev, t, L, Tk in zip(eng.levels, re_theta, factors, T):
            for dL in lev.factor_jacobian(t):
                dD = dL @ L.T + L @ dL.T
                grad.append(-0.5 * float((dD * Tk).sum()))
        if n_cor:
            g_cor = np.zeros(n_cor)
            for Qp, (_, dC) in zip(Qpat, cor):
                g_cor -= 0.5 * (dC.reshape(len(dC), -1) @ Qp.reshape(-1))
            grad.extend(g_cor)
        if n_var:
            grad.extend(vf.log_weights_jacobian(th_var) @ s_row)
        return np.asarray(grad, dtype=float)
