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
    which parameters are log standard deviations (bounded below by the optimizer).

``PdBlocked`` composes the others block-diagonally: statsmodels' random effects and
independent variance components of one group are ``PdBlocked([PdSymm(k_re),
PdIdent(m_1), PdIdent(m_2), ...])``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PdMat", "PdSymm", "PdDiag", "PdIdent", "PdBlocked", "pd_class_named"]


class PdMat:
    """Base class: a ``q x q`` relative covariance ``L L'`` with ``n_params`` parameters."""

    name = "pdMat"

    def __init__(self, q):
        self.q = int(q)

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

    def factor(self, theta):
        q = self.q
        L = np.diag(np.exp(theta[:q]))
        L[np.tril_indices(q, -1)] = theta[q:]
        return L

    def factor_jacobian(self, theta):
        q = self.q
        out = np.zeros((self.n_params, q, q))
        idx = np.arange(q)
        out[idx, idx, idx] = np.exp(theta[:q])
        rows, cols = np.tril_indices(q, -1)
        out[q + np.arange(rows.size), rows, cols] = 1.0
        return out

    def unfactor(self, L):
        d = np.log(np.clip(np.diag(L), 1e-300, None))
        return np.concatenate([d, L[np.tril_indices(self.q, -1)]])

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


_SIMPLE = {"pdSymm": PdSymm, "pdLogChol": PdSymm, "pdDiag": PdDiag, "pdIdent": PdIdent}


def pd_class_named(name, q):
    """The class called ``name`` (``"pdSymm"``, ``"pdDiag"``, ``"pdIdent"``) for ``q``
    random effects."""
    try:
        return _SIMPLE[name](q)
    except KeyError:
        raise ValueError(f"unknown random-effects structure {name!r}; use one of "
                         f"{', '.join(sorted(_SIMPLE))}") from None
