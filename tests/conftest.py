import warnings

import pytest

from lmmext.validation import load_dataset


@pytest.fixture(scope="session")
def data():
    """Load a validation data set by name (factor levels as nlme has them)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_dataset(name)
        return cache[name].copy()
    return get


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def orthodont_visits():
    """Orthodont with ``visit`` = the age's position 1..4 (integer)."""
    d = load_dataset("Orthodont")
    d["visit"] = ((d["age"] - 8) // 2 + 1).astype(int)
    return d


@pytest.fixture(scope="module")
def orthodont_unbalanced(orthodont_visits):
    """:func:`orthodont_visits` with some visits dropped: gaps inside subjects (visit 2
    of M01-M04, visit 3 of F02, F05), dropouts (visit 4 of M10, F08) and a late start
    (visit 1 of M12)."""
    d = orthodont_visits
    drop = {("M01", 2), ("M02", 2), ("M03", 2), ("M04", 2), ("F02", 3), ("F05", 3),
            ("M10", 4), ("F08", 4), ("M12", 1)}
    keep = [(s, v) not in drop for s, v in zip(d["Subject"], d["visit"])]
    return d[keep].reset_index(drop=True)
