"""Variance functions (nlme's varFunc classes): one protocol in :mod:`.base`, one
concept to a module beside it."""
from .base import VarFunc
from .comb import VarComb
from .covariate import VarConstPower, VarExp, VarPower
from .fixed import VarFixed
from .ident import VarIdent

__all__ = ["VarFunc", "VarFixed", "VarIdent", "VarPower", "VarExp", "VarConstPower",
           "VarComb"]
