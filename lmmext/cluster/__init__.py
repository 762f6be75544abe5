"""Fits to data larger than one machine: ``lme()`` and ``gls()`` on a dask DataFrame.

The criterion, its score and its average information are sums over outermost groups,
so every evaluation is a map over partitions of whole groups and a tree reduction of
small matrices (:mod:`.engine`); the partitions' frames and engines stay on the workers
(:mod:`.partition`, built by :mod:`.prepare`).  Results are the usual classes with
outputs as long as the data as dask collections (:mod:`.fit`; statsmodels' door,
``MixedLM.from_formula``, in :mod:`.door`).  Needs the ``dask``
extra (``pip install "lmmext[dask]"``); nothing here is imported by ``import lmmext``.
"""
from .fit import fit_dask

__all__ = ["fit_dask"]
