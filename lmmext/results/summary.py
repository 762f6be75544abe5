"""The printed nlme-style summary of a fit: header, structures, fixed-effects table with
the correlation of the estimates, and residual quantiles.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .fixed_effects import check_ddf

__all__ = ["SummaryText", "indent"]


def indent(text, n=2):
    """``text`` with every line indented by ``n`` spaces."""
    return "\n".join(" " * n + line for line in text.splitlines())


class _Summary(str):
    def __repr__(self):
        return str(self)

    def as_text(self):
        return str(self)


class SummaryText:
    """nlme's printed summary (mixed into the results)."""

    # --- text ---------------------------------------------------------------------------
    def _header(self, title):
        lines = [title, f"  Data: {self.nobs} observations"
                 + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
                 f"{'AIC':>12} {'BIC':>12} {'logLik':>12}",
                 f"{self.aic:12.6g} {self.bic:12.6g} {self.llf:12.6g}", ""]
        return lines

    def _structure_lines(self):
        lines = []
        cs = self.frame.corstruct
        if cs is not None:
            lines += [f"Correlation Structure: {type(cs).__name__}",
                      f" Formula: {cs.form.text}"]
            if getattr(cs, "group", None):          # group-specific parameters
                lines.append(f" Group: {cs.group} ({', '.join(cs.group_levels)})")
            lines += [" Parameter estimate(s):",
                      indent(self.correlation_params.to_string()), ""]
        vf = self.frame.varfunc
        if vf is not None:
            lines += [f"Variance function: {vf.describe()}", " Parameter estimates:",
                      indent(self.variance_params.to_string()), ""]
        return lines

    def _fixed_lines(self, ddf="containment"):
        tt = self.fe_table(ddf)
        lines = ["Coefficients:" if self._is_gls else "Fixed effects:",
                 indent(tt.to_string(float_format=lambda v: f"{v:.6g}")), ""]
        if len(tt) > 1:
            # nlme prints the lower triangle of the correlation of the estimates
            V = self._vcov_tests
            sd = np.sqrt(np.diag(V))
            C = pd.DataFrame(V / np.outer(sd, sd), index=tt.index, columns=tt.index)
            low = C.where(np.tril(np.ones(C.shape, dtype=bool), -1)).iloc[1:, :-1]
            lines += [" Correlation:",
                      indent(low.to_string(na_rep="", float_format=lambda v: f"{v:.3f}")), ""]
        q = self._pearson_quantiles([0, .25, .5, .75, 1])
        lines += ["Standardized Within-Group Residuals:" if not self._is_gls
                  else "Standardized residuals:",
                  indent(pd.Series(q, index=["Min", "Q1", "Med", "Q3", "Max"]).to_string()), ""]
        return lines

    def _pearson_quantiles(self, probs):
        return np.quantile(self._pearson_engine(), probs)

    def _summary_text(self, ddf="containment"):
        raise NotImplementedError

    def summary(self, ddf="containment"):
        """nlme-style summary of the fit.

        Parameters
        ----------
        ddf : {"containment", "satterthwaite", "kenward-roger"}
            Denominator degrees of freedom of the fixed-effects table.

        Returns
        -------
        str
            A string subclass; printing it shows AIC, BIC and logLik, the random effects,
            the correlation structure and variance function, the fixed-effects table with
            the correlation of the estimates, the quantiles of the standardized residuals
            and the numbers of observations and groups.
        """
        return _Summary(self._summary_text(check_ddf(ddf)))
