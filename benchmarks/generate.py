"""Deterministic synthetic longitudinal data for the benchmarks (issue 5).

G subjects, 4-12 planned visits with random dropout, AR(1) errors whose SD depends on
treatment, a random intercept and slope; fixed effects ``y ~ t*trt + sex + x``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def make_data(G, seed=20261123):
    rng = np.random.default_rng(seed)
    n_planned = rng.integers(4, 13, size=G)
    dropout = rng.random(G) < 0.3
    n_obs = np.where(dropout, np.maximum(2, (n_planned * rng.uniform(0.4, 1.0, G)).astype(int)),
                     n_planned)
    subj = np.repeat(np.arange(G), n_obs)
    visit = np.concatenate([np.arange(1, k + 1) for k in n_obs])
    t = visit + rng.uniform(-0.2, 0.2, size=visit.size)            # continuous time
    trt = np.repeat(rng.integers(0, 3, size=G), n_obs)
    sex = np.repeat(rng.integers(0, 2, size=G), n_obs)
    x = rng.normal(size=visit.size)
    b0 = np.repeat(rng.normal(scale=1.0, size=G), n_obs)
    b1 = np.repeat(rng.normal(scale=0.2, size=G), n_obs)
    sd = np.array([1.0, 1.5, 0.7])[trt]
    phi = 0.5
    e = np.empty(visit.size)
    starts = np.r_[0, np.cumsum(n_obs)[:-1]]
    z = rng.normal(size=visit.size)
    for s, k in zip(starts, n_obs):        # AR(1) innovations per subject
        e[s] = z[s]
        for j in range(1, k):
            e[s + j] = phi * e[s + j - 1] + np.sqrt(1 - phi ** 2) * z[s + j]
    y = 10 + 0.5 * t + 0.3 * trt - 0.2 * t * trt + 0.4 * sex + 0.3 * x + b0 + b1 * t + sd * e
    return pd.DataFrame({
        "y": y, "t": t, "visit": visit, "x": x,
        "trt": pd.Categorical(np.array(["A", "B", "C"])[trt], categories=["A", "B", "C"]),
        "sex": pd.Categorical(np.array(["F", "M"])[sex], categories=["F", "M"]),
        "subject": pd.Categorical([f"s{i:06d}" for i in subj]),
    })
