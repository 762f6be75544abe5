"""Write sm_crossed_vc.csv: the simulated data of statsmodels' test_random_effects_getters
(statsmodels/regression/tests/test_lme.py, RandomState(34234); 500 groups of 10 rows, a
random slope pair z0, z1 and two crossed variance components v0, v1 within each group).

    python validation/data/make_sm_crossed_vc.py
"""
from pathlib import Path

import numpy as np
import pandas as pd


def make():
    rs = np.random.RandomState(34234)
    ng, m = 500, 10
    rows = []
    for i in range(ng):
        xx = rs.normal(size=(m, 2))
        yy = xx[:, 0] + 0.5 * rs.normal(size=m)
        zz = rs.normal(size=(m, 2))
        bb = rs.normal(size=2)
        bb[0] *= 3
        yy += np.dot(zz, bb).flat
        vv0 = np.kron(np.r_[0, 1], np.ones(m // 2)).astype(int)
        yy += rs.normal(size=2)[vv0]
        vv1 = np.kron(np.ones(m // 2), np.r_[0, 1]).astype(int)
        yy += rs.normal(size=2)[vv1]
        rows.append(pd.DataFrame({"y": yy, "x0": xx[:, 0], "x1": xx[:, 1], "z0": zz[:, 0],
                                  "z1": zz[:, 1], "v0": vv0, "v1": vv1, "g": f"g{i:d}"}))
    return pd.concat(rows, ignore_index=True)


if __name__ == "__main__":
    out = Path(__file__).with_name("sm_crossed_vc.csv")
    make().to_csv(out, index=False, float_format="%.17g")
    print(out)
