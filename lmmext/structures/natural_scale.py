"""The scale nlme's ``apVar`` (and so ``intervals``) uses for the parameters of a
variance function or correlation structure: one mixin for both protocols."""
from __future__ import annotations

import numpy as np

__all__ = ["ApVarScale"]


class ApVarScale:
    """Identity map between the unconstrained parameters and apVar's scale.

    Structures whose apVar scale differs (e.g. ``CorSymm``: Fisher's z) override
    these four methods; the class needs ``param_names()`` and ``coefficients(theta)``.
    """

    def apvar_params(self, theta):
        """Free parameters on the scale nlme's apVar (and ``intervals``) uses.

        Parameters
        ----------
        theta : array_like
            Free parameters on the unconstrained scale.

        Returns
        -------
        ndarray
        """
        return np.asarray(theta, dtype=float)

    def apvar_theta(self, nat):
        """Inverse of :meth:`apvar_params`.

        Parameters
        ----------
        nat : array_like
            Parameters on apVar's scale.

        Returns
        -------
        ndarray
        """
        return np.asarray(nat, dtype=float)

    def apvar_names(self):
        """Names of the parameters on apVar's scale.

        Returns
        -------
        list of str
        """
        return self.param_names()

    def apvar_report(self, nat):
        """Reported values at apVar-scale parameters, for ``intervals``.

        Parameters
        ----------
        nat : array_like
            Parameters on apVar's scale.

        Returns
        -------
        pandas.Series
        """
        return self.coefficients(self.apvar_theta(nat))
