"""lmmext's engine on a model statsmodels' constructor built (the statsmodels door
without a variance function or correlation structure).

statsmodels' ``MixedLM`` is one grouping level whose random effects are the columns of
``exog_re`` (a general covariance) and, independent of them and of each other, the
variance components of ``exog_vc``: per group, component ``j`` has its own columns
sharing one variance.  That is one engine level with the block-diagonal class
``PdBlocked([PdSymm(k_re), PdIdent(w_1), PdIdent(w_2), ...])``, where component ``j``'s
columns of every group are written into ``w_j`` slots (``w_j`` the most columns any
group has; unused slots are zero columns, which leave the likelihood unchanged).

:func:`engine_optimum` maximizes that model's (RE)ML criterion with the engine and
returns the optimum as statsmodels' ``MixedLMParams``, from which statsmodels' own fit
confirms convergence and builds its results.
"""
from __future__ import annotations

import types
import warnings

import numpy as np
from scipy import sparse
from statsmodels.regression.mixed_linear_model import MixedLMParams

from .engine.fitting import fit_frame
from .engine.levels import Level
from .structures.random_effects import PdBlocked, PdDiag, PdIdent, PdSymm

__all__ = ["random_design", "engine_level", "engine_optimum"]

# smallest eigenvalue of the relative covariance handed to statsmodels' optimizer
_BOUNDARY_VAR = 1e-8


def _dense(mat):
    return mat.toarray() if sparse.issparse(mat) else np.asarray(mat, dtype=float)


def random_design(model, diagonal=False):
    """statsmodels' random effects of every row as one design, in the caller's order.

    Parameters
    ----------
    model : statsmodels.regression.mixed_linear_model.MixedLM
    diagonal : bool
        Independent random effects (``PdDiag``) instead of a general covariance.

    Returns
    -------
    Z : ndarray (N, q)
        ``exog_re``'s columns, then each variance component's slots: a row's own columns
        of the component in its group, zero in the slots its group does not use.
    names : list of str
    pd : PdMat
        ``PdSymm``/``PdDiag`` over ``exog_re``, ``PdIdent`` over each component's slots,
        blocked when there are several.
    """
    blocks, columns, names = [], [], []
    if model.k_re:
        columns.append(np.asarray(model.exog_re, dtype=float))
        blocks.append(PdDiag(model.k_re) if diagonal else PdSymm(model.k_re))
        names += list(model.data.exog_re_names)
    rows = [np.asarray(model.row_indices[g], dtype=np.int64) for g in model.group_labels]
    for name, mats in zip(model.exog_vc.names, model.exog_vc.mats):
        mats = [_dense(m) for m in mats]
        width = max(m.shape[1] for m in mats)
        Zj = np.zeros((len(model.endog), width))
        for r, m in zip(rows, mats):
            Zj[r, :m.shape[1]] = m
        columns.append(Zj)
        blocks.append(PdIdent(width))
        blocks[-1].label = name                  # nlme's intervals: sd(<component>)
        names += [f"{name}[{k}]" for k in range(width)]
    pd = blocks[0] if len(blocks) == 1 else PdBlocked(blocks)
    return np.column_stack(columns), names, pd


def engine_level(model, diagonal=False):
    """The engine's view of a statsmodels ``MixedLM``: ``(order, level)`` with ``order``
    the caller's rows in engine order (groups in ``model.group_labels`` order, rows of a
    group in the caller's order) and the one :class:`Level` of :func:`random_design`."""
    labels = model.group_labels
    rows = [np.asarray(model.row_indices[g], dtype=np.int64) for g in labels]
    order = np.concatenate(rows)
    Z, names, pd = random_design(model, diagonal)
    codes = np.repeat(np.arange(len(labels)), [r.size for r in rows])
    level = Level("groups", codes, [str(g) for g in labels], Z[order], names, pd=pd)
    return order, level


def _engine_can_hold(model, free):
    """``None`` when ``free`` (statsmodels' mask of estimated parameters) is beyond the
    engine, else whether it asks for independent random effects."""
    if free is None:
        return False
    fe = np.asarray(free.fe_params)
    vc = np.asarray(free.vcomp)
    cov = np.asarray(free.cov_re)
    if not (np.all(fe != 0) and np.all(vc != 0) and np.all(np.diag(cov) != 0)):
        return None
    off = cov[~np.eye(cov.shape[0], dtype=bool)]
    if np.all(off != 0):
        return False
    return True if np.all(off == 0) else None


def engine_optimum(model, reml=True, free=None):
    """lmmext's (RE)ML optimum of a statsmodels ``MixedLM`` as ``MixedLMParams``
    (covariances relative to the residual variance, as statsmodels' optimizer sees them).

    Returns ``None`` when ``free`` holds parameters the engine cannot hold fixed (then
    statsmodels' optimizer works alone).
    """
    diagonal = _engine_can_hold(model, free)
    if diagonal is None:
        return None
    order, level = engine_level(model, diagonal)
    frame = types.SimpleNamespace(y=np.asarray(model.endog, dtype=float)[order],
                                  X=np.asarray(model.exog, dtype=float)[order],
                                  levels=[level], varfunc=None, corstruct=None,
                                  N=order.size)
    with warnings.catch_warnings():
        # statsmodels' fit judges convergence and the boundary and warns as it does
        warnings.simplefilter("ignore")
        state = fit_frame(frame, reml=reml)
    L = state.engine.user_factors(state.evaluation)[0]
    D = L @ L.T
    # an optimum on the boundary (a variance, or the last Cholesky pivot, held at zero)
    # is not a point statsmodels' parameterization can start from (its score inverts
    # cov_re; from an exact zero its optimizer leaves the optimum): the eigenvalues are
    # lifted to a relative variance of 1e-8 (an SD 1e-4 of the residual SD, where
    # first-order optimizers stop on such boundaries), and statsmodels' optimizer takes
    # the last steps and judges the boundary as it does
    vals, vecs = np.linalg.eigh((D + D.T) / 2)
    if vals.min() < _BOUNDARY_VAR:
        D = (vecs * np.maximum(vals, _BOUNDARY_VAR)) @ vecs.T
    k = model.k_re
    vc_first = k + np.cumsum([0] + [b.q for b in _vc_blocks(level)])[:-1]
    return MixedLMParams.from_components(
        fe_params=state.evaluation.beta, cov_re=D[:k, :k],
        vcomp=np.array([D[i, i] for i in vc_first]))


def _vc_blocks(level):
    blocks = level.pd.blocks if isinstance(level.pd, PdBlocked) else [level.pd]
    return [b for b in blocks if isinstance(b, PdIdent)]
