"""Random-effects covariance classes (nlme's pdMat): the parameterization of one level's
relative covariance ``D~ = L L'`` (``D = sigma^2 D~``) by a lower-triangular factor.

Every class follows one protocol, used by the engine's levels:

``n_params``
    the number of free unconstrained parameters;
``factor(theta)``, ``factor_jacobian(theta)``, ``unfactor(L)``
    the factor ``L`` from the parameters, its derivatives ``(n_params, q, q)``, and the
    inverse map;
``start(ms)``
    nlme's starting value from the mean square ``ms`` of each design column per group;
``log_sd``
    which parameters are log standard deviations (bounded below by the optimizer);
``natural(D)``, ``from_natural(nat)``, ``natural_names(z_names)``, ``report(nat)``
    nlme's apVar scale of the covariance ``D = sigma^2 D~`` (log standard deviations and
    the class's transformed correlations), its inverse, nlme's ``intervals()`` labels
    and the reported values (standard deviations and correlations);
    ``natural_log_sd`` marks the log standard deviations among them.

``label`` is the class's random-effects formula (``"~ Variety - 1"``) when the model
was specified by one: nlme names a ``pdIdent``'s single standard deviation by it.

``PdBlocked`` composes the others block-diagonally: statsmodels' random effects and
independent variance components of one group are ``PdBlocked([PdSymm(k_re),
PdIdent(m_1), PdIdent(m_2), ...])``.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["PdMat", "PdSymm", "PdDiag", "PdIdent", "PdCompSymm", "PdBlocked", "PdRepeated",
           "pd_class_named"]


@functools.lru_cache(maxsize=None)
def _below_diagonal(q):
    """The indices of a ``q x q`` matrix's entries below the diagonal, row by row (kept:
    the factor is built at every evaluation)."""
    rows, cols = np.tril_indices(q, -1)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def _log_ratio_corr(C):
    """nlme's natural scale of the correlations of ``C`` (above the diagonal, row by
    row): ``log((1 + r) / (1 - r))``."""
    r = C[np.triu_indices(C.shape[0], 1)]
    return np.log((1 + r) / (1 - r))


def _sd_corr(D):
    sd = np.sqrt(np.diag(D))
    return sd, D / np.outer(sd, sd)


class PdMat:
    """Base class: a ``q x q`` relative covariance ``L L'`` with ``n_params`` parameters."""

    name = "pdMat"
    label = None
    description = "General positive-definite"

    def __init__(self, q):
        self.q = int(q)

    @property
    def block_q(self):
        """Size of the class's distinct diagonal block: ``q``, one for a multiple of the
        identity (every effect the same), the inner class's for a repeated block (every
        level the same)."""
        return 1 if self.name == "pdIdent" else self.q

    @property
    def zero_faces(self):
        """The log-SD parameters that may be held at zero by the optimizer (a variance
        reaching zero on its own: every log SD by default)."""
        return self.log_sd

    # nlme's apVar scale, by default that of a general (pdSymm) covariance
    def natural(self, D):
        sd, C = _sd_corr(D)
        return np.concatenate([np.log(sd), _log_ratio_corr(C)])

    def from_natural(self, nat):
        q = self.q
        sd = np.exp(nat[:q])
        C = np.eye(q)
        C[np.triu_indices(q, 1)] = np.tanh(np.asarray(nat[q:]) / 2.0)
        C = np.triu(C) + np.triu(C, 1).T
        return C * np.outer(sd, sd)

    def report(self, nat):
        q = self.q
        return np.concatenate([np.exp(nat[:q]), np.tanh(np.asarray(nat[q:]) / 2.0)])

    def natural_names(self, z_names):
        q = self.q
        return ([f"sd({n})" for n in z_names]
                + [f"cor({z_names[i]},{z_names[j]})" for i in range(q) for j in range(i + 1, q)])

    @property
    def natural_log_sd(self):
        return np.r_[np.ones(self.q, bool), np.zeros(self.q * (self.q - 1) // 2, bool)]

    def _factor_of(self, D):
        return np.linalg.cholesky((D + D.T) / 2)

    def _factor_jacobian_of(self, L, dDs):
        """``dL`` of the Cholesky factor ``L`` for covariance derivatives ``dD``:
        ``L Phi(L^-1 dD L^-T)``, ``Phi`` the lower triangle with half the diagonal."""
        out = np.empty((len(dDs), self.q, self.q))
        for j, dD in enumerate(dDs):
            X = np.linalg.solve(L, np.linalg.solve(L, dD).T)
            P = np.tril(X)
            P[np.diag_indices(self.q)] *= 0.5
            out[j] = L @ P
        return out

    def __repr__(self):
        return f"{type(self).__name__}({self.q})"

    def _start_sd(self, ms):
        # nlme: relative precision 0.375^2 * mean square of the column
        ms = np.where(np.asarray(ms, dtype=float) > 0, ms, 1.0)
        return 1.0 / (0.375 * np.sqrt(ms))


class PdSymm(PdMat):
    """General positive-definite ``D~`` (nlme's pdSymm/pdLogChol): log of the factor's
    diagonal, then its below-diagonal entries row by row."""

    name = "pdSymm"

    @property
    def n_params(self):
        return self.q * (self.q + 1) // 2

    @property
    def log_sd(self):
        return np.r_[np.ones(self.q, bool), np.zeros(self.n_params - self.q, bool)]

    @property
    def zero_faces(self):
        # only the last diagonal of the Cholesky factor: L_qq = 0 is the general rank
        # deficiency (a null direction anywhere); an earlier L_kk = 0 would force a
        # whole row and column of D to zero, a face that can trap the optimizer away
        # from an optimum that has them small but correlated
        out = np.zeros(self.n_params, bool)
        out[self.q - 1] = True
        return out

    def factor(self, theta):
        q = self.q
        L = np.diag(np.exp(theta[:q]))
        L[_below_diagonal(q)] = theta[q:]
        return L

    def factor_jacobian(self, theta):
        q = self.q
        out = np.zeros((self.n_params, q, q))
        idx = np.arange(q)
        out[idx, idx, idx] = np.exp(theta[:q])
        rows, cols = _below_diagonal(q)
        out[q + np.arange(rows.size), rows, cols] = 1.0
        return out

    def unfactor(self, L):
        d = np.log(np.clip(np.diag(L), 1e-300, None))
        return np.concatenate([d, L[_below_diagonal(self.q)]])

    def start(self, ms):
        return np.concatenate([np.log(self._start_sd(ms)), np.zeros(self.n_params - self.q)])


class PdDiag(PdMat):
    """Diagonal ``D~`` (nlme's pdDiag): the log SD of each random effect."""

    name = "pdDiag"

    @property
    def n_params(self):
        return self.q

    @property
    def log_sd(self):
        return np.ones(self.q, bool)

    def factor(self, theta):
        return np.diag(np.exp(theta))

    def factor_jacobian(self, theta):
        out = np.zeros((self.q, self.q, self.q))
        idx = np.arange(self.q)
        out[idx, idx, idx] = np.exp(theta)
        return out

    def unfactor(self, L):
        return np.log(np.clip(np.diag(L), 1e-300, None))

    def start(self, ms):
        return np.log(self._start_sd(ms))

    description = "Diagonal"

    def natural(self, D):
        return np.log(np.sqrt(np.diag(D)))

    def from_natural(self, nat):
        return np.diag(np.exp(2.0 * np.asarray(nat)))

    def report(self, nat):
        return np.exp(nat)

    def natural_names(self, z_names):
        return [f"sd({n})" for n in z_names]

    @property
    def natural_log_sd(self):
        return np.ones(self.q, bool)


class PdIdent(PdMat):
    """A multiple of the identity (nlme's pdIdent): one log SD for every random effect."""

    name = "pdIdent"
    n_params = 1

    @property
    def log_sd(self):
        return np.ones(1, bool)

    def factor(self, theta):
        return np.exp(theta[0]) * np.eye(self.q)

    def factor_jacobian(self, theta):
        return (np.exp(theta[0]) * np.eye(self.q))[None]

    def unfactor(self, L):
        return np.log(np.clip(np.diag(L)[:1], 1e-300, None))

    def start(self, ms):
        return np.log([self._start_sd(ms).mean()]) if self.q else np.zeros(1)

    description = "Multiple of an Identity"

    def natural(self, D):
        return np.log(np.sqrt(np.diag(D)[:1]))

    def from_natural(self, nat):
        return np.exp(2.0 * nat[0]) * np.eye(self.q)

    def report(self, nat):
        return np.exp(nat)

    def natural_names(self, z_names):
        # nlme: sd(<the formula's right-hand side>)
        if self.label is not None:
            return [f"sd({self.label.strip().lstrip('~').strip()})"]
        return [f"sd({z_names[0]})" if self.q == 1 else "sd"]

    @property
    def natural_log_sd(self):
        return np.ones(1, bool)


class PdCompSymm(PdMat):
    """Compound symmetry (nlme's pdCompSymm): one standard deviation and one correlation
    ``rho`` for every pair, ``-1/(q - 1) < rho < 1``; the parameters are the log SD and
    ``log((1/(q - 1) + rho) / (1 - rho))``, nlme's unconstrained scale (also apVar's).

    A negative ``rho`` is allowed, so the model is not nested in the one without the
    random effects (a likelihood-ratio test against it is not on the boundary).
    """

    name = "pdCompSymm"
    description = "Compound Symmetry"
    n_params = 2

    def __init__(self, q):
        super().__init__(q)
        if self.q < 2:
            raise ValueError("pdCompSymm needs at least two random effects (a compound "
                             f"symmetry of {self.q} is a pdIdent)")
        self._c = 1.0 / (self.q - 1)

    @property
    def log_sd(self):
        return np.array([True, False])

    def _rho(self, a):
        ea = np.exp(a)
        return (ea - self._c) / (1.0 + ea)

    def _cov(self, theta):
        rho = self._rho(theta[1])
        return np.exp(2.0 * theta[0]) * ((1 - rho) * np.eye(self.q) + rho)

    def factor(self, theta):
        return self._factor_of(self._cov(theta))

    def factor_jacobian(self, theta):
        D = self._cov(theta)
        ea = np.exp(theta[1])
        drho = ea * (1 + self._c) / (1 + ea) ** 2
        dD_rho = np.exp(2.0 * theta[0]) * drho * (np.ones((self.q, self.q)) - np.eye(self.q))
        return self._factor_jacobian_of(self._factor_of(D), [2.0 * D, dD_rho])

    def _params(self, D):
        v = np.mean(np.diag(D))
        rho = (D.sum() - np.trace(D)) / (self.q * (self.q - 1) * v)
        rho = np.clip(rho, -self._c + 1e-12, 1 - 1e-12)
        return np.array([0.5 * np.log(v), np.log((self._c + rho) / (1 - rho))])

    def unfactor(self, L):
        return self._params(L @ L.T)

    def start(self, ms):
        return np.array([np.log(self._start_sd(ms).mean()), np.log(self._c)])

    def natural(self, D):
        return self._params(D)

    def from_natural(self, nat):
        return self._cov(nat)

    def report(self, nat):
        return np.array([np.exp(nat[0]), self._rho(nat[1])])

    def natural_names(self, z_names):
        return ["std. dev", "corr."]

    @property
    def natural_log_sd(self):
        return np.array([True, False])


class PdBlocked(PdMat):
    """Block-diagonal ``D~`` (nlme's pdBlocked) whose blocks are other classes, in order;
    the parameters are the blocks' parameters, concatenated."""

    name = "pdBlocked"

    def __init__(self, blocks):
        self.blocks = list(blocks)
        if not self.blocks:
            raise ValueError("PdBlocked needs at least one block")
        super().__init__(sum(b.q for b in self.blocks))
        self._cols = np.cumsum([0] + [b.q for b in self.blocks])
        self._pars = np.cumsum([0] + [b.n_params for b in self.blocks])

    def __repr__(self):
        return f"PdBlocked({self.blocks!r})"

    def _parts(self, theta):
        return [(b, theta[p0:p1], slice(c0, c1)) for b, p0, p1, c0, c1 in
                zip(self.blocks, self._pars[:-1], self._pars[1:], self._cols[:-1],
                    self._cols[1:])]

    @property
    def n_params(self):
        return int(self._pars[-1])

    @property
    def log_sd(self):
        return np.concatenate([b.log_sd for b in self.blocks])

    @property
    def zero_faces(self):
        return np.concatenate([b.zero_faces for b in self.blocks])

    def factor(self, theta):
        L = np.zeros((self.q, self.q))
        for b, t, sl in self._parts(theta):
            L[sl, sl] = b.factor(t)
        return L

    def factor_jacobian(self, theta):
        out = np.zeros((self.n_params, self.q, self.q))
        for (b, t, sl), p0, p1 in zip(self._parts(theta), self._pars[:-1], self._pars[1:]):
            out[p0:p1, sl, sl] = b.factor_jacobian(t)
        return out

    def unfactor(self, L):
        return np.concatenate([b.unfactor(L[sl, sl])
                               for b, _, sl in self._parts(np.zeros(self.n_params))])

    def start(self, ms):
        ms = np.asarray(ms, dtype=float)
        return np.concatenate([b.start(ms[sl])
                               for b, _, sl in self._parts(np.zeros(self.n_params))])

    description = "Blocked"

    def _natural_splits(self):
        return np.cumsum([0] + [b.natural_log_sd.size for b in self.blocks])

    def natural(self, D):
        return np.concatenate([b.natural(D[sl, sl])
                               for b, _, sl in self._parts(np.zeros(self.n_params))])

    def from_natural(self, nat):
        D = np.zeros((self.q, self.q))
        n = self._natural_splits()
        for (b, _, sl), n0, n1 in zip(self._parts(np.zeros(self.n_params)), n[:-1], n[1:]):
            D[sl, sl] = b.from_natural(nat[n0:n1])
        return D

    def report(self, nat):
        n = self._natural_splits()
        return np.concatenate([b.report(nat[n0:n1])
                               for b, n0, n1 in zip(self.blocks, n[:-1], n[1:])])

    def natural_names(self, z_names):
        return [name for b, c0, c1 in zip(self.blocks, self._cols[:-1], self._cols[1:])
                for name in b.natural_names(list(z_names[c0:c1]))]

    @property
    def natural_log_sd(self):
        return np.concatenate([b.natural_log_sd for b in self.blocks])


class PdRepeated(PdMat):
    """The same covariance class for each of ``m`` levels of a factor, independent
    between levels: ``D~ = I_m (x) D~_inner``, the block of one term ``(x | g)`` of a
    crossed (lme4-style) specification.  Columns run level by level, the inner
    design's columns within each level; the parameters are the inner class's."""

    name = "pdRepeated"

    def __init__(self, inner, m):
        self.inner = inner
        self.m = int(m)
        super().__init__(inner.q * self.m)
        self.description = inner.description

    def __repr__(self):
        return f"PdRepeated({self.inner!r}, {self.m})"

    @property
    def block_q(self):
        return self.inner.q

    @property
    def n_params(self):
        return self.inner.n_params

    @property
    def log_sd(self):
        return self.inner.log_sd

    def factor(self, theta):
        return np.kron(np.eye(self.m), self.inner.factor(theta))

    def factor_jacobian(self, theta):
        return np.stack([np.kron(np.eye(self.m), d) for d in self.inner.factor_jacobian(theta)])

    def unfactor(self, L):
        k = self.inner.q
        return self.inner.unfactor(L[:k, :k])

    def start(self, ms):
        k = self.inner.q
        return self.inner.start(np.asarray(ms, dtype=float).reshape(self.m, k).mean(axis=0))

    def natural(self, D):
        k = self.inner.q
        return self.inner.natural(D[:k, :k])

    def from_natural(self, nat):
        return np.kron(np.eye(self.m), self.inner.from_natural(nat))

    def report(self, nat):
        return self.inner.report(nat)

    def natural_names(self, z_names):
        return self.inner.natural_names(list(z_names[:self.inner.q]))

    @property
    def natural_log_sd(self):
        return self.inner.natural_log_sd


_SIMPLE = {"pdSymm": PdSymm, "pdLogChol": PdSymm, "pdDiag": PdDiag, "pdIdent": PdIdent,
           "pdCompSymm": PdCompSymm}


def pd_class_named(name, q):
    """The class called ``name`` (``"pdSymm"``, ``"pdDiag"``, ``"pdIdent"``,
    ``"pdCompSymm"``) for ``q`` random effects."""
    try:
        return _SIMPLE[name](q)
    except KeyError:
        raise ValueError(f"unknown random-effects structure {name!r}; use one of "
                         f"{', '.join(sorted(_SIMPLE))}") from None
