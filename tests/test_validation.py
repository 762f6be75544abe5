"""Every stored nlme reference case, fitted and compared as the validation runner does
(logLik 1e-6 absolute, estimates/SEs/variance parameters 1e-4 relative unless the case
carries a documented override)."""
import pytest

from lmmext.validation import load_cases, run_case

CASES = load_cases()


def test_there_are_enough_cases():
    groups = {}
    for c in CASES:
        groups[c["group"]] = groups.get(c["group"], 0) + 1
    assert groups.get("seeds", 0) >= 7
    assert groups.get("varfunc", 0) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_matches_nlme(case):
    res = run_case(case)
    assert res.passed, f"{case['id']} ({case['r_call']}): " + "; ".join(res.failures)
