"""Deterministic synthetic data for the benchmarks, in several shapes (issues 5 and 15).

Longitudinal shapes (G subjects, fixed effects ``y ~ t*trt + sex + x``):

``regular``
    4-12 planned visits with dropout (no gaps), times near the visit grid, AR(1) errors
    whose SD depends on treatment, a random intercept and slope (issue 5's data).
``realistic``
    12 planned visits of which 4-12 are observed with *intermittent* gaps, visit times
    jittered by up to +-0.4, errors from a continuous-time AR(1) process in those times
    and **no** random intercept: a random intercept fitted beside a serial structure goes
    to the boundary (zero variance).
``skewed``
    skewed subject sizes (1 to 40 rows, geometric), gaps and jitter, random intercept and
    slope, AR(1) errors in visit positions.

Nested shapes (G innermost groups; fixed effects ``y ~ t*trt + x``):

``nested``
    few large outer groups: ``plot`` (``max(4, G // 250)`` plots) / ``tree`` (5-13
    measurements each at irregular times), random intercept per plot, random intercept
    and slope per tree (nlme's Spruce design, scaled up).
``nested3``
    three levels ``region / farm / animal`` (about 20 farms per region, 10 animals per
    farm), 2-8 records per animal.

A clinical-trial shape (issue 17):

``mmrm``
    G subjects, 6 scheduled visits (a factor ``AVISIT``), monotone dropout (about 30% of
    the subjects lose 1-3 final visits), an unstructured within-subject covariance
    (heterogeneous SDs, correlations 0.3-0.8), fixed effects ``y ~ trt * AVISIT``.

Every shape has columns ``y, t, visit, x, trt, sex, subject`` (nested ones also their
grouping columns; ``subject`` is the innermost group).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SHAPES = ("regular", "realistic", "skewed", "nested", "nested3", "mmrm")


def _frame(y, t, visit, x, trt, sex, subj, **extra):
    out = {
        "y": y, "t": t, "visit": visit, "x": x,
        "trt": pd.Categorical(np.array(["A", "B", "C"])[trt], categories=["A", "B", "C"]),
        "sex": pd.Categorical(np.array(["F", "M"])[sex], categories=["F", "M"]),
        "subject": pd.Categorical([f"s{i:07d}" for i in subj]),
    }
    out.update(extra)
    return pd.DataFrame(out)


def _ar1_errors(z, starts, sizes, r):
    """Stationary AR(1) errors per subject: ``e_j = r_j e_(j-1) + sqrt(1 - r_j^2) z_j``
    with a per-row lag correlation ``r`` (``phi^dt`` for continuous times)."""
    e = z.copy()
    for s, k in zip(starts, sizes):
        for j in range(s + 1, s + k):
            e[j] = r[j] * e[j - 1] + np.sqrt(1 - r[j] ** 2) * z[j]
    return e


def make_data(G, shape="regular", seed=20261123):
    """The data of one shape (see the module docstring) for ``G`` subjects (innermost
    groups)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    rng = np.random.default_rng(seed)
    if shape in ("nested", "nested3"):
        return _nested(G, shape, rng)
    if shape == "mmrm":
        return _mmrm(G, rng)
    if shape == "regular":
        n_planned = rng.integers(4, 13, size=G)
        dropout = rng.random(G) < 0.3
        n_obs = np.where(dropout, np.maximum(2, (n_planned * rng.uniform(0.4, 1.0, G)).astype(int)),
                         n_planned)
        visit = np.concatenate([np.arange(1, k + 1) for k in n_obs])
        t = visit + rng.uniform(-0.2, 0.2, size=visit.size)
    elif shape == "realistic":
        n_obs = rng.integers(4, 13, size=G)
        visit = np.concatenate([np.sort(rng.choice(np.arange(1, 13), k, replace=False))
                                for k in n_obs])
        t = visit + rng.uniform(-0.4, 0.4, size=visit.size)
    else:                                          # skewed
        n_obs = np.minimum(rng.geometric(1 / 7, size=G), 40)
        visit = np.concatenate([np.cumsum(1 + (rng.random(k) < 0.25)) for k in n_obs])
        t = visit + rng.uniform(-0.3, 0.3, size=visit.size)
    N = visit.size
    subj = np.repeat(np.arange(G), n_obs)
    starts = np.r_[0, np.cumsum(n_obs)[:-1]]
    trt = np.repeat(rng.integers(0, 3, size=G), n_obs)
    sex = np.repeat(rng.integers(0, 2, size=G), n_obs)
    x = rng.normal(size=N)
    sd = np.array([1.0, 1.5, 0.7])[trt]
    z = rng.normal(size=N)
    if shape == "realistic":
        dt = np.r_[0.0, np.diff(t)]
        e = _ar1_errors(z, starts, n_obs, np.power(0.6, np.abs(dt)))
        b0 = b1 = np.zeros(N)
    else:
        e = _ar1_errors(z, starts, n_obs, np.where(np.r_[0, np.diff(visit)] == 2, 0.25, 0.5))
        b0 = np.repeat(rng.normal(scale=1.0, size=G), n_obs)
        b1 = np.repeat(rng.normal(scale=0.2, size=G), n_obs)
    y = 10 + 0.5 * t + 0.3 * trt - 0.2 * t * trt + 0.4 * sex + 0.3 * x + b0 + b1 * t + sd * e
    return _frame(y, t, visit, x, trt, sex, subj)


def _nested(G, shape, rng):
    if shape == "nested":
        sizes = rng.integers(5, 14, size=G)
        n_outer = max(4, G // 250)
        outer = np.sort(rng.integers(0, n_outer, size=G))
        chain = {"plot": outer}
        sds = {"plot": 0.8}
    else:
        sizes = rng.integers(2, 9, size=G)
        farm = np.sort(rng.integers(0, max(2, G // 10), size=G))
        n_farms = int(farm.max()) + 1
        region_of_farm = np.sort(rng.integers(0, max(2, n_farms // 20), size=n_farms))
        chain = {"region": region_of_farm[farm], "farm": farm}
        sds = {"region": 0.7, "farm": 0.5}
    N = int(sizes.sum())
    subj = np.repeat(np.arange(G), sizes)
    visit = np.concatenate([np.arange(1, k + 1) for k in sizes])
    t = np.concatenate([np.sort(rng.uniform(0, 10, k)) for k in sizes])
    trt = np.repeat(rng.integers(0, 3, size=G), sizes)
    sex = np.repeat(rng.integers(0, 2, size=G), sizes)
    x = rng.normal(size=N)
    mu = 10 + 0.5 * t + 0.3 * trt - 0.05 * t * trt + 0.3 * x
    extra = {}
    for name, codes in chain.items():
        eff = rng.normal(scale=sds[name], size=int(codes.max()) + 1)
        mu += np.repeat(eff[codes], sizes)
        extra[name] = pd.Categorical([f"{name[0]}{c:05d}" for c in np.repeat(codes, sizes)])
    b0 = np.repeat(rng.normal(scale=1.0, size=G), sizes)
    b1 = np.repeat(rng.normal(scale=0.15, size=G), sizes) if shape == "nested" else 0.0
    sd = np.array([1.0, 1.5, 0.7])[trt]
    y = mu + b0 + b1 * t + sd * rng.normal(size=N) * 0.6
    return _frame(y, t, visit, x, trt, sex, subj, **extra)


def _mmrm(G, rng):
    K = 6
    n_obs = np.where(rng.random(G) < 0.3, K - rng.integers(1, 4, size=G), K)
    visit = np.concatenate([np.arange(1, k + 1) for k in n_obs])
    subj = np.repeat(np.arange(G), n_obs)
    trt = np.repeat(rng.integers(0, 3, size=G), n_obs)
    sex = np.repeat(rng.integers(0, 2, size=G), n_obs)
    sd = np.linspace(1.0, 2.0, K)
    lag = np.abs(np.subtract.outer(np.arange(K), np.arange(K)))
    cov = np.outer(sd, sd) * np.where(lag == 0, 1.0, 0.3 + 0.5 * 0.7 ** lag)
    e = rng.multivariate_normal(np.zeros(K), cov, size=G)
    err = np.concatenate([e[g, :k] for g, k in enumerate(n_obs)])
    y = 10 + 0.4 * visit - 0.15 * visit * (trt == 1) - 0.3 * visit * (trt == 2) + err
    out = _frame(y, visit.astype(float), visit, rng.normal(size=visit.size), trt, sex, subj)
    out["AVISIT"] = pd.Categorical([f"V{v}" for v in visit],
                                   categories=[f"V{v}" for v in range(1, K + 1)])
    return out
