"""A region: one trace's profile, its counts and shapes formulas in the symbolic sizes, exact
where its conditions (the decisions torch took on the sizes) hold, and evaluated there."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from ..compiler import compile_int
from ..errors import ConvopsError
from ..profiling import Profile
from ..symbols import condition_text
from .sizes import concrete, with_sizes
from .translation import readable


@dataclass(frozen=True)
class Specialization:
    """A symbolic size that tracing fixed: to ``value`` (an int, or an expression in the others).

    Examples
    --------
    >>> import torch, convops
    >>> str(convops.profile(torch.nn.Conv1d(2, 4, 1), (1, 2, "L=1")).specializations[0])
    'L specialised to 1 at the start: torch fixes sizes 0 and 1'
    """

    size: str
    value: object
    where: str  #: the call running when it happened: ``module path (aten op)``
    why: str  #: torch's source location of the decision

    def __str__(self) -> str:
        value = condition_text(readable(sp.sympify(self.value)))
        return f"{self.size} specialised to {value} at {self.where}: {self.why}"


@dataclass(frozen=True, repr=False)
class Region(Profile):
    """One trace: a :class:`Profile` whose counts and shapes are sympy expressions in
    ``symbols``, exact where its conditions hold.

    ``guards`` are the decisions torch took on the sizes while tracing (every one kept: a guard
    that chooses a path through the model decides which operations run), ``specializations``
    the sizes tracing fixed, and where; ``traced_at`` the sizes it ran at.

    Examples
    --------
    >>> import torch, convops
    >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
    >>> region = p.regions[0]
    >>> region.total, region.guards
    (48*L - 96, (L >= 3,))

    See Also
    --------
    convops.symbolic.SymbolicProfile : every region of a model.
    """

    symbols: tuple[sp.Symbol, ...] = ()
    guards: tuple[sp.Basic, ...] = ()
    specializations: tuple[Specialization, ...] = ()
    traced_at: tuple[tuple[str, int], ...] = ()

    @cached_property
    def condition(self) -> sp.Basic:
        """Where the region's formulas hold: every guard, and every specialised size's value.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.regions[0].condition
        L >= 3

        See Also
        --------
        broken : the condition sizes break.
        """
        fixed = [sp.Eq(sp.Symbol(s.size, integer=True, positive=True), sp.sympify(s.value))
                 for s in self.specializations]
        return sp.And(*self.guards, *fixed)

    def describe(self) -> str:
        """Where the region holds, in words, and where it was traced.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.regions[0].describe()
        'L ≥ 3 (traced at L=256)'
        """
        at = ", ".join(f"{name}={size}" for name, size in self.traced_at)
        where = condition_text(readable(self.condition)) if self.condition is not sp.true \
            else "every size"
        return f"{where} (traced at {at})"

    def _printable(self, expr):
        return readable(expr)

    # -- evaluation ------------------------------------------------------------------------------
    @cached_property
    def _table(self):
        """Every value of the table as an index into the values of one compiled function of the
        sizes (its distinct expressions), or as the int it is."""
        expressions, slots = {}, []

        def slot(value):
            value = sp.sympify(value)
            if value.is_Integer:
                return int(value)
            return -1 - expressions.setdefault(value, len(expressions))

        for layer in self.layers:
            shapes = [tuple(map(slot, s)) if s is not None else None
                      for s in (layer.input_shape, layer.output_shape)]
            counts = None if layer.breakdown is None else tuple(
                slot(_zero_if_none(getattr(layer.breakdown, q))) for q in _BREAKDOWN_FIELDS)
            slots.append((*shapes, counts))
        return exact_function(self.symbols, list(expressions) or [sp.S.Zero]), slots

    @cached_property
    def _quantities(self):
        return exact_function(self.symbols, [self.multiplications, self.additions, self.total])

    @cached_property
    def _check_guards(self):
        return exact_function(self.symbols, list(self.guards)) if self.guards else None

    def broken(self, sizes: dict[str, int]) -> sp.Basic | None:
        """The first of the region's conditions that ``sizes`` break, or ``None``.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.regions[0].broken({'L': 2}), p.regions[0].broken({'L': 9})
        (L >= 3, None)

        See Also
        --------
        condition : all of them.
        """
        values = {sp.Symbol(name, integer=True, positive=True): v for name, v in sizes.items()}
        for special in self.specializations:
            if sp.sympify(special.value).xreplace(values) != sizes[special.size]:
                return sp.Eq(sp.Symbol(special.size, integer=True, positive=True),
                             sp.sympify(special.value))
        if self._check_guards is None:
            return None
        held = self._check_guards(*(sizes[str(s)] for s in self.symbols))
        held = held if isinstance(held, (list, tuple)) else [held]
        return next((g for g, ok in zip(self.guards, held) if not ok), None)

    def evaluate(self, **sizes: int) -> tuple[int, int, int]:
        """``(multiplications, additions, total)`` at ``sizes``, where the region holds.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.regions[0].evaluate(L=9)
        (168, 168, 336)

        See Also
        --------
        at : every row at those sizes.
        """
        return tuple(self._quantities(*(sizes[str(s)] for s in self.symbols)))

    def at(self, **sizes: int) -> Profile:
        """The numeric profile at ``sizes``, where the region holds: every count an exact int.

        Examples
        --------
        >>> import torch, convops
        >>> p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, "L"))
        >>> p.regions[0].at(L=9).total
        336

        See Also
        --------
        evaluate : the three totals alone.
        """
        function, slots = self._table
        computed = function(*(sizes[str(s)] for s in self.symbols))
        computed = computed if isinstance(computed, (list, tuple)) else [computed]

        def value(s):
            return s if s >= 0 else computed[-1 - s]

        layers = []
        for layer, (shape_in, shape_out, counts) in zip(self.layers, slots):
            shape_in = None if shape_in is None else tuple(map(value, shape_in))
            shape_out = None if shape_out is None else tuple(map(value, shape_out))
            numbers = None
            if counts is not None:
                fields = dict(zip(_BREAKDOWN_FIELDS, map(value, counts)))
                if layer.breakdown.A is None:
                    fields["A"] = None
                numbers = dataclasses.replace(layer.breakdown, input_shape=shape_in,
                                              output_shape=shape_out, **fields)
            layers.append(dataclasses.replace(layer, input_shape=shape_in, output_shape=shape_out,
                                              breakdown=numbers))
        at_sizes = {sp.Symbol(name, integer=True, positive=True): v for name, v in sizes.items()}
        modules = {path: dataclasses.replace(record, output_shape=None if record.output_shape is None
                   else tuple(int(sp.sympify(v).xreplace(at_sizes)) for v in record.output_shape))
                   for path, record in self.modules.items()}
        return Profile(self.model, concrete(self.input_shape, sizes), tuple(layers),
                       with_sizes(self.inputs, sizes), self.mode, self.device, modules)

def exact_function(symbols: tuple, expressions: list):
    """The values of ``expressions`` at sizes, exactly: compiled to integer code, or where the
    sound compiler refuses one (a division by a size that may be 0, as a reshape to ``-1`` of a
    padded size writes it), evaluated by sympy; a condition whose value is undefined there
    (``nan``: a division by zero) does not hold.

    Examples
    --------
    >>> import sympy as sp
    >>> from convops.symbolic.regions import exact_function
    >>> x = sp.Symbol('x', integer=True, positive=True)
    >>> exact_function((x,), [sp.floor(x / 3), x > 4])(10)
    [3, True]
    """
    try:
        return compile_int(symbols, expressions)
    except ConvopsError:
        def evaluate(*values):
            at = dict(zip(symbols, map(sp.Integer, values)))
            results = [e.xreplace(at) for e in expressions]
            results = [bool(r) if isinstance(r, sp.logic.boolalg.Boolean) else
                       int(r) if r.is_Integer else False for r in results]
            return results if len(results) > 1 else results[0]
        return evaluate


def _zero_if_none(value):
    return sp.S.Zero if value is None else value


_BREAKDOWN_FIELDS = ("batch", "psi", "lam", "gamma", "A", "multiplications", "additions", "total")

