"""The random-effects covariance classes (lmmext.structures.random_effects)."""
import numpy as np
import pytest
from scipy.linalg import block_diag

from lmmext.structures.numdiff import central_differences
from lmmext.structures.random_effects import (PdBlocked, PdDiag, PdIdent, PdSymm,
                                              pd_class_named)

CLASSES = {
    "symm": lambda: PdSymm(3),
    "diag": lambda: PdDiag(3),
    "ident": lambda: PdIdent(3),
    "blocked": lambda: PdBlocked([PdSymm(2), PdIdent(3), PdDiag(2)]),
}


@pytest.mark.parametrize("kind", CLASSES)
def test_factor_round_trip_and_jacobian(kind):
    pd = CLASSES[kind]()
    theta = np.random.default_rng(1).normal(size=pd.n_params)
    L = pd.factor(theta)
    assert L.shape == (pd.q, pd.q)
    np.testing.assert_array_equal(L, np.tril(L))
    np.testing.assert_allclose(pd.unfactor(L), theta, rtol=1e-12, atol=1e-12)
    jac = pd.factor_jacobian(theta)
    np.testing.assert_allclose(jac, central_differences(pd.factor, theta, 1e-6),
                               rtol=1e-6, atol=1e-8)
    assert pd.log_sd.shape == (pd.n_params,) and pd.log_sd.dtype == bool
    assert pd.start(np.ones(pd.q)).shape == (pd.n_params,)


def test_parameter_counts():
    assert (PdSymm(3).n_params, PdDiag(3).n_params, PdIdent(3).n_params) == (6, 3, 1)
    assert PdBlocked([PdSymm(2), PdIdent(4)]).n_params == 4


def test_blocked_is_the_block_diagonal_of_its_blocks():
    blocks = [PdSymm(2), PdIdent(3), PdDiag(2)]
    thetas = [np.array([0.1, -0.3, 0.7]), np.array([0.4]), np.array([-1.0, 0.2])]
    blocked = PdBlocked(blocks)
    L = blocked.factor(np.concatenate(thetas))
    np.testing.assert_array_equal(L, block_diag(*[b.factor(t) for b, t in zip(blocks, thetas)]))
    # the log SDs: the symmetric block's diagonal, the identity's one, the diagonal's two
    np.testing.assert_array_equal(blocked.log_sd, [1, 1, 0, 1, 1, 1])


def test_covariances_are_what_the_names_say():
    D = PdIdent(3).factor([np.log(2.0)]) @ PdIdent(3).factor([np.log(2.0)]).T
    np.testing.assert_allclose(D, 4.0 * np.eye(3))
    L = PdDiag(2).factor(np.log([2.0, 3.0]))
    np.testing.assert_allclose(L @ L.T, np.diag([4.0, 9.0]))


def test_unknown_class_names_the_accepted_ones():
    with pytest.raises(ValueError, match="pdBogus.*pdDiag, pdIdent, pdLogChol, pdSymm"):
        pd_class_named("pdBogus", 2)
    assert pd_class_named("pdLogChol", 2).name == "pdSymm"
