"""Residual correlation structures (nlme's corStruct classes): one protocol in
:mod:`.base`, serial, general and spatial structures beside it."""
from .base import CorStruct
from .general import CorCompSymm, CorSymm
from .serial import CorAR1, CorARMA, CorCAR1
from .spatial import CorExp, CorGaus, CorLin, CorRatio, CorSpher
from .toeplitz import CorAnte, CorToeplitz

__all__ = ["CorStruct", "CorAR1", "CorCAR1", "CorARMA", "CorCompSymm", "CorSymm",
           "CorExp", "CorGaus", "CorLin", "CorRatio", "CorSpher", "CorToeplitz", "CorAnte"]
