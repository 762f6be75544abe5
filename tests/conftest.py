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
