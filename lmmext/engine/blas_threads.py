"""One BLAS thread while the engine fits.

The engine's BLAS calls are many and small or thin (products of ``N x m`` row blocks
with ``m`` a few dozen at most, stacks of tiny factors): multithreaded BLAS wakes its
threads for each of them and loses more than it gains.  Measured on the benchmarks
(benchmarks/RESULTS.md): a random-intercept fit of 71,000 rows took half the time with
one thread, an MMRM fit two thirds, and no case took measurably longer.  The limit is
taken with ``threadpoolctl`` for the duration of a fit (a fit that starts while another
runs leaves it alone; the one that set it restores the caller's setting); without
``threadpoolctl`` nothing changes.
"""
from __future__ import annotations

import functools
import threading

import scipy.linalg

try:
    from threadpoolctl import ThreadpoolController
except ImportError:                                     # pragma: no cover
    ThreadpoolController = None

__all__ = ["single_blas_thread"]

# scipy's BLAS, loaded before the libraries are looked up (numpy's is already)
_SCIPY_BLAS = scipy.linalg.blas


def _controller():
    """The loaded BLAS libraries, looked up once (a scan of the process's libraries),
    or ``None`` where they cannot be (the fit then runs with the caller's setting)."""
    if ThreadpoolController is None:
        return None
    try:
        return ThreadpoolController()
    except Exception:                                   # pragma: no cover
        return None


_CONTROLLER = _controller()
_lock = threading.Lock()
_active = [0]                   # fits running now, in any thread


class _SingleThread:
    """The limit is set by a fit that starts when no other runs, and given back by that
    same fit when it ends (threadpoolctl lets the thread that set a limit restore it);
    fits that start meanwhile, in this thread or others, leave it alone."""

    def __enter__(self):
        self._limiter = None
        with _lock:
            if _active[0] == 0 and _CONTROLLER is not None:
                self._limiter = _CONTROLLER.limit(limits=1, user_api="blas")
                self._limiter.__enter__()
            _active[0] += 1
        return self

    def __exit__(self, *exc):
        with _lock:
            _active[0] -= 1
            if self._limiter is not None:
                self._limiter.__exit__(None, None, None)
        return False


def single_blas_thread(fn=None):
    """A context manager (``with single_blas_thread():``) or decorator limiting BLAS to
    one thread while it runs (see the module docstring)."""
    if fn is None:
        return _SingleThread()

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with _SingleThread():
            return fn(*args, **kwargs)
    return wrapped
