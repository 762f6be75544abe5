"""The optimizer on criteria with a kink (corLin: the slope in the range jumps where the
range equals a pairwise distance).  Maxima and values below are derived by hand."""
import numpy as np
import pytest

from lmmext.engine.optimize import maximize

KINK = 1.9547647947583930            # log(sqrt(65) - 1), as in validation case P07


def kinked(x):
    """Maximum 0 at (KINK, 0.3): slopes +1.56 / -1.89 across the kink in x0 (those of
    the P07 criterion), smooth and coupled in x1."""
    d = x[0] - KINK
    return -(1.89 * d if d > 0 else -1.56 * d) - 40.0 * (x[1] - 0.3) ** 2 - 2.0 * d * (x[1] - 0.3)


@pytest.mark.parametrize("x0", [[1.0, 0.0], [1.95, 0.3], [1.9547, 0.31], [3.0, -1.0]])
def test_maximum_on_a_kink_is_found_and_reported_converged(x0):
    info = maximize(kinked, np.array(x0))
    assert info.x[0] == pytest.approx(KINK, abs=1e-8)
    assert info.x[1] == pytest.approx(0.3, abs=1e-6)
    assert info.loglik == pytest.approx(0.0, abs=2e-8)
    assert info.converged


def test_smooth_maximum_needs_no_kink_search():
    info = maximize(lambda x: -((x[0] - 1.0) ** 2) - 3.0 * (x[1] + 2.0) ** 2 - x[0] * x[1],
                    np.array([0.0, 0.0]))
    # stationary point of the quadratic: 2(x0-1) + x1 = 0, 6(x1+2) + x0 = 0
    np.testing.assert_allclose(info.x, np.linalg.solve([[2, 1], [1, 6]], [2, -12]), atol=1e-6)
    assert "kink search" not in info.methods and info.converged
