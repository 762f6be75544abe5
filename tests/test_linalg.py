"""The engine's stacked small-matrix algebra (lmmext/engine/linalg.py) against numpy's
own per-matrix routines."""
import numpy as np
import pytest

from lmmext.engine.linalg import (batched_cho_solve, batched_cholesky, stack_times,
                                  stacked_inner_sum, times_stack)


def _spd_stack(rng, G, n):
    A = rng.normal(size=(G, n, n))
    return A @ A.transpose(0, 2, 1) + 0.1 * np.eye(n)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_batched_cholesky_and_solve(n):
    rng = np.random.default_rng(n)
    M = _spd_stack(rng, 50, n)
    L = batched_cholesky(M)
    np.testing.assert_allclose(L, np.linalg.cholesky(M), rtol=1e-12, atol=1e-12)
    assert np.all(np.triu(L[0], 1) == 0)
    rhs = rng.normal(size=(50, n, 3))
    np.testing.assert_allclose(batched_cho_solve(L, rhs), np.linalg.solve(M, rhs),
                               rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_batched_cholesky_refuses_an_indefinite_matrix(n):
    M = _spd_stack(np.random.default_rng(0), 5, n)
    M[3, n - 1, n - 1] = -1.0
    with pytest.raises(np.linalg.LinAlgError):
        batched_cholesky(M)


def test_stacked_products():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2, 3))
    R = rng.normal(size=(3, 4))
    Y = rng.normal(size=(7, 5, 3))
    np.testing.assert_allclose(stack_times(X, R), np.einsum("gab,bc->gac", X, R))
    np.testing.assert_allclose(times_stack(R.T, Y.transpose(0, 2, 1)),
                               np.einsum("ab,gbc->gac", R.T, Y.transpose(0, 2, 1)))
    np.testing.assert_allclose(stacked_inner_sum(X, Y), np.einsum("gab,gcb->ac", X, Y))


@pytest.mark.parametrize("shape", [(9,), (9, 1), (9, 4)])
def test_bidiagonal_map_equals_the_dense_factor(shape):
    from lmmext.structures.correlation.patterns import bidiagonal_map
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 2.0, 9), rng.normal(size=9)
    U = np.diag(a) + np.diag(b[1:], -1)                 # rows a_j x_j + b_j x_(j-1)
    M = rng.normal(size=shape)
    np.testing.assert_allclose(bidiagonal_map(M, a, b), U @ M, rtol=1e-13)
    np.testing.assert_allclose(bidiagonal_map(M, a, b, transpose=True), U.T @ M, rtol=1e-13)
