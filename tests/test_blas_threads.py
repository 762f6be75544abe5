"""The engine fits with one BLAS thread (lmmext/engine/blas_threads.py) and gives the
caller's setting back, also when fits nest or run in several threads at once (the first
to start sets the limit and restores it; threadpoolctl lets only that thread do so)."""
import threading
import warnings

import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

import lmmext
from lmmext.engine import blas_threads
from lmmext.engine.likelihood import ProfiledLikelihood


def _blas_threads():
    return sorted({m["num_threads"] for m in threadpoolctl.threadpool_info()
                   if m["user_api"] == "blas"})


@pytest.fixture
def two_threads():
    # a known setting to come back to (the machine may have one core).  threadpoolctl
    # lets one thread at a time control OpenBLAS's process-wide pool: this one gives
    # the control back, or the worker threads below could not set a limit
    release = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread",
                      lambda: None)
    limiter = threadpoolctl.threadpool_limits(limits=2, user_api="blas")
    release()
    try:
        if _blas_threads() != [2]:
            pytest.skip("the BLAS libraries here do not take a thread count")
        yield
    finally:
        limiter.restore_original_limits()
        release()


def test_fit_runs_with_one_blas_thread_and_restores(data, monkeypatch, two_threads):
    seen = []
    original = ProfiledLikelihood.evaluate

    def recording(self, *args, **kwargs):
        seen.append(tuple(_blas_threads()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ProfiledLikelihood, "evaluate", recording)
    fit = lmmext.lme("distance ~ age", data=data("Orthodont"), random="~ 1 | Subject")
    assert seen and set(seen) == {(1,)}
    assert _blas_threads() == [2]
    assert np.isfinite(fit.llf)


def test_nested_and_concurrent_limits_restore_once(two_threads):
    inside, errors = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            with blas_threads.single_blas_thread():
                barrier.wait(timeout=10)        # all three inside at once
                inside.append(tuple(_blas_threads()))
                barrier.wait(timeout=10)        # none leaves before all have looked
        except Exception as exc:                # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert inside == [(1,)] * 3
    assert _blas_threads() == [2]
    # and another thread sets it afterwards (no thread keeps threadpoolctl's control)
    seen = []

    def later():
        with blas_threads.single_blas_thread():
            seen.append(tuple(_blas_threads()))

    t = threading.Thread(target=later)
    t.start()
    t.join()
    assert seen == [(1,)] and _blas_threads() == [2]
    with blas_threads.single_blas_thread():
        with blas_threads.single_blas_thread():
            assert _blas_threads() == [1]
        assert _blas_threads() == [1]
    assert _blas_threads() == [2]


def test_decorated_function_restores_after_an_error(two_threads):
    @blas_threads.single_blas_thread
    def failing():
        assert _blas_threads() == [1]
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing()
    assert _blas_threads() == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert failing.__name__ == "failing"
