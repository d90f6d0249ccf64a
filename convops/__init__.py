"""convops: exact, symbolic operation counts for torch's convolution modules.

The symbolic core (:mod:`convops.derivation`, :mod:`convops.symbols`, :mod:`convops.additions`)
imports no torch; :func:`profile`, :mod:`convops.reference` and :mod:`convops.peers` load it when
first used.

Examples
--------
>>> import torch, convops
>>> convops.count_ops(torch.nn.Conv1d(2, 4, kernel_size=3), (1, 2, 10))
384
>>> convops.derive("Conv1d").simplified(bias=False)
C_out*L_out*N*(2*C_in*k - g)/g
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .algorithms import AlgorithmBreakdown, Operations
from .backward import BackwardDerivation
from .cook_toom import winograd
from .count import BackwardBreakdown, Breakdown, GradientCount, breakdown, count_ops
from .derivation import KINDS, Derivation, Kind, derive
from .errors import ConvopsError
from .layer import Layer
from .symbols import latex

if TYPE_CHECKING:  # loaded on first use (PEP 562): they import torch
    from . import peers, reference
    from .profiler import profile
    from .profiling import LayerProfile, Profile
    from .symbolic import SymbolicProfile

__all__ = ["AlgorithmBreakdown", "BackwardBreakdown", "BackwardDerivation", "Breakdown",
           "ConvopsError", "Derivation", "GradientCount", "KINDS", "Kind", "Layer", "LayerProfile",
           "Operations", "Profile", "SymbolicProfile", "breakdown", "count_ops", "derive", "latex",
           "peers", "profile", "reference", "winograd"]
__version__ = "0.1.0"

_LAZY = {"LayerProfile": "profiling", "Profile": "profiling", "profile": "profiler",
         "SymbolicProfile": "symbolic", "peers": None, "reference": None}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'convops' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
