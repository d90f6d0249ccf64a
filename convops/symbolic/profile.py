"""The symbolic profile: a model's counts as formulas in its input sizes, one per region of sizes,
tracing again where a size asked for is outside every region traced so far."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import sympy as sp
import torch

from ..errors import ConvopsError
from ..profiling import Profile
from ..plans import TOTALS
from ..words import calls, compact
from ..symbols import condition_latex, condition_text, latex
from .regions import Region, Specialization
from .sizes import at_sizes, symbol_names, with_hints
from .tracing import trace
from .translation import readable


@dataclass(frozen=True, repr=False)
class SymbolicProfile(Profile):
    """A :class:`Profile` whose counts are formulas in ``symbols``, one per region of sizes.

    Each trace follows one path through the model and holds where the decisions torch took on
    the sizes (its guards) hold: a :class:`Region`.  The profile starts with the region of the
    sizes it was traced at; :meth:`at` and :meth:`evaluate` at a size outside every known region
    trace the model again there (at most :data:`~convops.symbolic.tracing.TRACE_SECONDS` each, and :data:`MAX_REGIONS`
    regions in all) and keep the new region, so that later sizes in it are answered from its
    formulas.  Where a re-trace fails, the answer comes from a numeric profile at those sizes,
    marked as such (:attr:`Profile.fallback`); a size the model itself refuses is refused with
    the model's reason.  For this the profile keeps the model and its inputs: a re-trace runs the
    model as it is then, so a model whose modules, parameters or buffers changed since is refused
    (its regions describe the model as it was); a change to its code is not seen.

    The table, the rows and the module formulas show the first region (its conditions under
    :attr:`guards`); :meth:`formula`, :meth:`latex`, :attr:`total` and :meth:`to_json` hold every
    region's.

    Examples
    --------
    >>> import torch, convops
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU())
    >>> p = convops.profile(model, (1, 3, "H", "W"))
    >>> p.evaluate(H=32, W=17), p.at(H=32, W=17).total
    ((25920, 25920, 51840), 51840)
    >>> text = p.latex("multiplications")  # the floors as torch writes them: of (H - 3) / 2
    >>> "lfloor" in text and "{H - 3}{2}" in text
    True
    >>> line = convops.profile(torch.nn.Conv1d(2, 4, 3, stride=2), (1, 2, "L"))
    >>> print(line.formula_text())
    48·⌊(L - 3)/2⌋ + 48  if L ≥ 3
    not traced  otherwise

    A size traced at 1 is fixed there (torch fixes sizes 0 and 1); a size outside the regions
    traced so far is traced when first asked for, and kept:

    >>> pointwise = torch.nn.Conv2d(3, 8, 1)
    >>> row = convops.profile(pointwise, (1, 3, "H=1", "W"))
    >>> row.holds(H=4, W=17), row.at(H=4, W=17).total, convops.profile(pointwise, (1, 3, 4, 17)).total
    (False, 3264, 3264)
    >>> len(row.regions), row.holds(H=9, W=2), row.holds(H=1, W=40)
    (2, True, True)
    """

    symbols: tuple[sp.Symbol, ...] = ()
    _regions: list = field(default_factory=list, compare=False)
    #: the inputs, keyword inputs, the model's fingerprint and the numeric profile, to re-trace
    _recipe: tuple = field(default=(), compare=False)

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions traced so far, the first the profile's own, in order of tracing.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> len(p.regions), p.regions[0].traced_at
        (1, (('L', 256),))

        See Also
        --------
        convops.symbolic.Region : one of them.
        """
        return tuple(self._regions)

    @property
    def guards(self) -> tuple[sp.Basic, ...]:
        """The first region's conditions: the decisions torch took on the sizes.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.guards
        (L >= 3,)

        See Also
        --------
        specializations : the sizes the first trace fixed.
        """
        return self._regions[0].guards

    @property
    def specializations(self) -> tuple[Specialization, ...]:
        """The sizes the first region's trace fixed.

        Examples
        --------
        >>> import torch, convops
        >>> convops.profile(torch.nn.Conv1d(2, 4, 1), (1, 2, "L=1")).specializations[0].size
        'L'

        See Also
        --------
        guards : the first region's conditions.
        """
        return self._regions[0].specializations

    # -- formulas across regions -----------------------------------------------------------------
    def formula(self, quantity: str = "total", module: str | None = None):
        """``quantity`` of the model or of ``module`` in every region: one formula where one
        region covers every size, else a ``Piecewise`` of each region's formula and condition
        (regions with the same formula merged), ``nan`` (not traced) elsewhere.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.formula('multiplications')
        Piecewise((24*L - 48, L >= 3), (nan, True))

        See Also
        --------
        formula_text : the same for people.
        latex : the same to cite.
        """
        pieces: dict = {}
        refusals = []
        for region in self._regions:
            try:
                value = sp.sympify(region.formula(quantity, module))
            except ConvopsError as error:  # a module that did not run in this region: 0
                refusals.append(error)
                value = sp.S.Zero
            pieces[value] = sp.Or(pieces.get(value, sp.false), region.condition)
        if len(refusals) == len(self._regions):
            raise refusals[0]
        if any(condition is sp.true for condition in pieces.values()):
            return next(v for v, c in pieces.items() if c is sp.true)
        return sp.Piecewise(*pieces.items(), (sp.nan, True), evaluate=False)  # as traced

    @property
    def multiplications(self):
        """Multiplications of every counted call, as :meth:`formula` gives them.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.multiplications
        Piecewise((24*L - 48, L >= 3), (nan, True))

        See Also
        --------
        additions : the rest of the total.
        """
        return self.formula("multiplications")

    @property
    def additions(self):
        """Additions of every counted call, as :meth:`formula` gives them.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.additions
        Piecewise((24*L - 48, L >= 3), (nan, True))

        See Also
        --------
        multiplications : the rest of the total.
        """
        return self.formula("additions")

    @property
    def total(self):
        """Operations of every counted call, as :meth:`formula` gives them.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.total
        Piecewise((48*L - 96, L >= 3), (nan, True))

        See Also
        --------
        formula : the same for a module or a quantity.
        """
        return self.formula("total")

    def latex(self, quantity: str = "total", module: str | None = None,
              width: int | None = None) -> str:
        r"""LaTeX of :meth:`formula` (same arguments), to cite: cases in proper math, each
        region's formula (broken over lines of about ``width`` characters) and its condition in
        words, "not traced" for the other sizes; ``guards``: the first region's conditions.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.latex('total')
        '\\begin{cases} 48 L - 96 & \\text{if } L \\geq 3 \\\\ \\text{not traced} & \\text{otherwise} \\end{cases}'

        See Also
        --------
        formula : the formula itself.
        """
        if quantity == "guards":
            return r",\quad ".join(condition_latex(readable(guard)) for guard in self.guards)
        value = self.formula(quantity, module)
        if not isinstance(value, sp.Piecewise):
            return latex(readable(value), width)
        rows = [rf"{latex(readable(v), width)} & \text{{if }} {condition_latex(readable(c))}"
                for v, c in value.args[:-1]]
        return (r"\begin{cases} " + r" \\ ".join([*rows, r"\text{not traced} & \text{otherwise}"])
                + r" \end{cases}")

    def formula_text(self, quantity: str = "total", module: str | None = None) -> str:
        """:meth:`formula` as text for people: one line per region, ``formula  if condition``,
        and ``not traced  otherwise``.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> print(p.formula_text())
        48·L - 96  if L ≥ 3
        not traced  otherwise

        See Also
        --------
        formula : the formula itself.
        """
        value = self.formula(quantity, module)
        if not isinstance(value, sp.Piecewise):
            return condition_text(readable(value))
        return "\n".join([*(f"{condition_text(readable(v))}  if {condition_text(readable(c))}"
                            for v, c in value.args[:-1]), "not traced  otherwise"])

    def summary(self) -> str:
        """One sentence: the calls, the regions of sizes and where each holds.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> print(p.summary())
        Conv1d on input (1, 2, L) (eval mode, on meta tensors): 1 convolution call, counted as formulas in L, in 1 region of sizes (region 1: L ≥ 3 (traced at L=256))
        """
        names = ", ".join(map(str, self.symbols))
        regions = "; ".join(f"region {i}: {region.describe()}"
                            + "".join(f", {special}" for special in region.specializations)
                            for i, region in enumerate(self._regions, 1))
        return (f"{self.opening()}, counted as formulas in {names}, in {len(self._regions)} "
                f"region{'s' * (len(self._regions) > 1)} of sizes ({regions})")

    def _printable(self, expr):
        return readable(expr)

    def _summary(self) -> str:
        traced = "; ".join(", ".join(f"{n}={v}" for n, v in region.traced_at)
                           for region in self._regions)
        return (f"{self.opening(table=True)}, counted as formulas in "
                f"{', '.join(map(str, self.symbols))}, in "
                f"{len(self._regions)} region{'s' * (len(self._regions) > 1)} of sizes (traced "
                f"at {traced}); the table shows the first; every region's: "
                "profile.formula_text(quantity, module), profile.latex(…), profile.regions"
                + "".join(f"; {special}" for special in self.specializations))

    def __repr__(self) -> str:
        first = compact(readable(self._regions[0].total), 60, readable)
        return (f"<{type(self).__name__} of {self.model_name} on {self.inputs}, {self.mode}: "
                f"{calls(len(self.counted))}, {first} operations in region 1 of "
                f"{len(self._regions)}>")

    def to_json(self) -> str:
        """:meth:`Profile.to_json` of the first region, its totals those of every region (as
        :meth:`formula`), and ``regions``: each region's conditions, specialisations, the sizes
        it was traced at and its totals, as text and LaTeX.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> import json
        >>> json.loads(p.to_json())['regions'][0]['totals']['total']
        '48*L - 96'
        """
        document = json.loads(super().to_json())
        for quantity in ("multiplications", "additions", "total"):
            document["totals"][quantity] = str(readable(self.formula(quantity)))
        document["totals"]["macs"] = document["totals"]["multiplications"]
        document["totals"]["flops"] = str(readable(2 * self.multiplications))
        document["regions"] = [{
            "conditions": [condition_text(readable(g)) for g in region.guards],
            "conditions_latex": [condition_latex(readable(g)) for g in region.guards],
            "specializations": [str(special) for special in region.specializations],
            "traced_at": dict(region.traced_at),
            "totals": {q: str(readable(region.formula(q))) for q in TOTALS},
            "latex": {q: latex(readable(region.formula(q))) for q in TOTALS},
        } for region in self._regions]
        return json.dumps(document, indent=2, ensure_ascii=False)

    # -- sizes -----------------------------------------------------------------------------------
    def holds(self, **sizes: int) -> bool:
        """Whether a region traced so far holds at ``sizes`` (no tracing).

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.holds(L=10), p.holds(L=2)
        (True, False)

        See Also
        --------
        at : the numeric profile at sizes, tracing where none holds.
        """
        sizes = self._checked(sizes)
        return any(region.broken(sizes) is None for region in self._regions)

    def evaluate(self, **sizes: int) -> tuple[int, int, int]:
        """``(multiplications, additions, total)`` at ``sizes``, exact ints: from the compiled
        formulas of the region that holds there, found as :meth:`at` finds it.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.evaluate(L=10), convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)).total
        ((192, 192, 384), 384)

        See Also
        --------
        at : every row at those sizes.
        """
        answer = self._answer(self._checked(sizes))
        if isinstance(answer, Region):
            return answer.evaluate(**sizes)
        return answer.multiplications, answer.additions, answer.total

    def at(self, **sizes: int) -> Profile:
        """The numeric profile at ``sizes`` (e.g. ``at(H=224, W=224)``): every count an exact int,
        from the formulas of a region that holds there, traced now if none does (see the class),
        or from a numeric profile, marked in :attr:`Profile.fallback`.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.at(L=10).total, p.at(L=10).layers[0].output_shape
        (384, (1, 4, 8))

        See Also
        --------
        evaluate : the three totals alone.
        """
        answer = self._answer(self._checked(sizes))
        return answer.at(**sizes) if isinstance(answer, Region) else answer

    def _checked(self, sizes: dict) -> dict[str, int]:
        names = [str(s) for s in self.symbols]
        if sorted(sizes) != sorted(names):
            raise ConvopsError(f"sizes {sorted(sizes)}: give exactly {', '.join(names)}")
        if not all(type(v) is int and v > 0 for v in sizes.values()):
            raise ConvopsError(f"sizes {sizes} must be positive ints")
        return sizes

    def _answer(self, sizes: dict[str, int]) -> Region | Profile:
        """The region that holds at ``sizes``, a new one traced there, or a numeric profile."""
        for region in self._regions:
            if region.broken(sizes) is None:
                return region
        inputs, kw_inputs, fingerprint, numeric_profile = self._recipe
        if _fingerprint(self.model) != fingerprint:
            raise ConvopsError(f"{self.model_name} changed since it was profiled (its modules, "
                               "parameters or buffers differ): its regions describe the model as "
                               "it was; profile it again")
        at = with_hints((inputs, kw_inputs), sizes)
        outside = (f"outside the traced regions "
                   f"({condition_text(readable(self._regions[0].broken(sizes)))} fails)")
        if len(self._regions) >= MAX_REGIONS:
            why = f"{outside}, and the profile holds {MAX_REGIONS} regions already"
        else:
            try:
                region = trace(self.model, *at, self.mode)
            except ConvopsError as error:
                why = f"{outside}, and a trace there failed: {error}"
            else:
                self._regions.append(region)
                return region
        concrete = at_sizes((inputs, kw_inputs), sizes)
        try:
            numeric = numeric_profile(self.model, *concrete[0], mode=self.mode, **concrete[1])
        except ConvopsError as error:
            raise ConvopsError(f"sizes {sizes}, {outside}: the model refuses them: {error}") \
                from error
        return dataclasses.replace(numeric, fallback=f"counted by a numeric profile at these "
                                                     f"sizes: {why}")

    def plot(self, along: str, values: Iterable[int], quantity: str = "total", ax: Any = None,
             **fixed: int | str) -> Any:
        """``quantity`` (``total``, ``multiplications`` or ``additions``) against the size
        ``along`` over ``values``, exact at each (:meth:`evaluate`: a size outside the regions
        traced so far is traced); the other sizes are ints or the name of a size they equal
        (``plot("H", range(64, 1025, 32), W="H")``).  Draws on ``ax`` (default: a new
        figure's) with matplotlib, imported here; returns the axes.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv2d(3, 8, 3), (1, 3, "H", "W"))
        >>> line, = p.plot("H", [8, 16, 32], W="H").lines
        >>> list(line.get_ydata()) == [p.evaluate(H=s, W=s)[2] for s in (8, 16, 32)]
        True
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.figure().gca()
        xs, column = list(values), TOTALS.index(quantity)
        ys = [self.evaluate(**{along: x} | {k: x if v == along else v for k, v in fixed.items()})
              [column] for x in xs]
        ax.plot(xs, ys, label=quantity)
        others = ", ".join(f"{k} = {v}" for k, v in fixed.items())
        ax.set_xlabel(f"{along} ({others})" if others else along)
        ax.set_ylabel("operations")
        return ax


#: A re-trace of :meth:`SymbolicProfile.at` adds a region; past this many, sizes outside them
#: are answered by numeric profiles (a model whose formulas change with every size, as one that
#: pads to a multiple of a window, would otherwise trace again at every size asked).
MAX_REGIONS = 16




def _fingerprint(model) -> tuple:
    """What a re-trace must find unchanged: the modules, and the parameters' and buffers' shapes
    and dtypes."""
    if not isinstance(model, torch.nn.Module):
        return ()
    return (tuple((name, type(m).__name__) for name, m in model.named_modules()),
            tuple((name, tuple(t.shape), t.dtype) for name, t in
                  (*model.named_parameters(), *model.named_buffers())))





def symbolic_profile(model: torch.nn.Module, inputs: tuple, kw_inputs: dict, mode: str,
                     numeric: Callable[..., Profile]) -> SymbolicProfile:
    """:func:`convops.profile` where a shape holds a string: see the module's docstring.
    ``numeric(model, *inputs, mode=mode, **kw_inputs)`` is the numeric profile that answers
    where a re-trace fails (:func:`convops.profile`, which calls this).

    Examples
    --------
    >>> import torch, convops
    >>> from convops.symbolic import symbolic_profile
    >>> model = torch.nn.Conv1d(2, 4, 3, padding=1)
    >>> symbolic_profile(model, (("N", 2, "L=50"),), {}, "eval", convops.profile).total
    48*L*N
    """
    first = trace(model, inputs, kw_inputs, mode)
    names = symbol_names(inputs, kw_inputs)
    symbols = tuple(sp.Symbol(name, integer=True, positive=True) for name in names)
    return SymbolicProfile(model, first.input_shape, first.layers, first.inputs, mode, None,
                           first.modules, symbols=symbols, _regions=[first],
                           _recipe=(inputs, kw_inputs, _fingerprint(model), numeric))


