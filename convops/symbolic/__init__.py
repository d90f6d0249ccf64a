"""A whole model's count as a formula in its input sizes.

``convops.profile(model, (1, 3, "H", "W"))`` runs the model once on fake tensors whose sizes are
torch symbols (a ``ShapeEnv``, as ``torch.export`` uses, without compiling anything): each
``aten.convolution`` then sees its input sizes as torch's sympy expressions of those symbols.  They
are rewritten in the user's names (``H``, ``W``, ``N`` …) and substituted into convops'
derivation with the call's parameters, so every call's counts, and the model's, are sympy
expressions.

The trace follows one path through the model: every decision torch makes on a size (a guard) is
kept, and the formulas hold where all of them do, a :class:`Region` of sizes (a size that tracing
had to fix to one value, a specialisation, is reported with the call that did it).  No guard is
dropped: one that chooses a path (``if H > 64``) decides which convolutions run.  Torch asks
its own questions about sizes size-obliviously (``guard_or_false``: broadcasting, contiguity,
strides): by torch's contract those take the general path, which gives the same result at size 1,
or check the size at run time, and such a check is kept as a condition.  So a stage that
collapses to one pixel stays in the region, and the model's own ``if x.shape[-1] == 1`` is still
a decision.  At a size outside the regions traced so far, :meth:`SymbolicProfile.at` traces again
there and keeps the new region.

Resizing to a size computed from the input (``F.interpolate(x, size=y.shape[-2:])``, or by a
``scale_factor``) runs under torch's Python dispatcher, whose decompositions take symbolic sizes.

The package, one idea a module: :mod:`~convops.symbolic.sizes` (the sizes as the user writes
them), :mod:`~convops.symbolic.translation` (torch's size functions in sympy's),
:mod:`~convops.symbolic.counting` (a layer's counts on symbolic sizes, beside
:func:`convops.breakdown`), :mod:`~convops.symbolic.torch_setup` (torch as a trace needs it),
:mod:`~convops.symbolic.tracing` (one trace), :mod:`~convops.symbolic.regions` (what one trace
gives, evaluated) and :mod:`~convops.symbolic.profile` (every region, traced on request).
"""

from .counting import symbolic_counts
from .profile import SymbolicProfile, symbolic_profile
from .regions import Region, Specialization
from .tracing import TraceTooSlow, trace
from .translation import TORCH_FUNCTIONS, Translator, merge_floors, readable

# The limits a session may change live where they are read: ``convops.symbolic.tracing.TRACE_SECONDS``
# and ``convops.symbolic.profile.MAX_REGIONS`` (a copy here would change nothing).
__all__ = ["TORCH_FUNCTIONS", "Region", "Specialization", "SymbolicProfile", "TraceTooSlow",
           "Translator", "merge_floors", "readable", "symbolic_counts", "symbolic_profile", "trace"]
