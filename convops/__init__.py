"""convops: exact, symbolic operation counts for torch's convolution modules.

>>> import torch, convops
>>> convops.count_ops(torch.nn.Conv1d(2, 4, kernel_size=3), (1, 2, 10))
384
"""

from .backward import BackwardDerivation
from .count import BackwardBreakdown, Breakdown, GradientCount, breakdown, count_ops
from .errors import ConvopsError
from .derivation import KINDS, Derivation, derive
from .layer import Layer
from .symbols import latex
from .profile import LayerProfile, Profile, profile

__all__ = ["BackwardBreakdown", "BackwardDerivation", "Breakdown", "GradientCount", "ConvopsError", "Derivation", "KINDS", "Layer", "breakdown", "count_ops", "derive", "latex",
           "LayerProfile", "Profile", "profile"]
__version__ = "0.1.0"
