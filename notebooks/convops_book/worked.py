"""The worked tiny example each module page opens with: one output element of a small layer,
computed by hand from its integer weights and input, checked against what torch computes.

The element is the bias plus one group of products per filter (per input channel) that reaches
it: the products are the multiplications, each filter's group is summed inside the filter (λ),
and the groups and the bias are added together (γ).  :func:`worked_example` shows the sum, its
value beside ``module(x)``'s, and what the element costs; the page's table then checks ψ, λ and
γ of the whole layer against torch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from convops.derivation import kind_of

from .notebook import Table

__all__ = ["Element", "element", "tiny_layer", "worked_example"]


def tiny_layer(kind) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """A small layer of ``kind`` (2 input channels, 1 output channel, kernel 2 along every
    dimension, a bias) with integer weights 1 to 3, bias 1, and its input shape.

    Examples
    --------
    >>> module, shape = tiny_layer("ConvTranspose1d")
    >>> module, shape, module.weight.flatten().tolist(), module.bias.tolist()
    (ConvTranspose1d(2, 1, kernel_size=(2,), stride=(1,)), (1, 2, 2), [1.0, 2.0, 3.0, 1.0], [1.0])
    """
    k = kind_of(kind)
    module = getattr(torch.nn, k.name)(2, 1, kernel_size=2)
    with torch.no_grad():
        weights = torch.arange(module.weight.numel(), dtype=module.weight.dtype)
        module.weight.copy_((weights % 3 + 1).reshape(module.weight.shape))
        module.bias.fill_(1)
    return module, (1, 2, *((2 if k.transposed else 3,) * k.ndim))


def tiny_input(shape: tuple[int, ...]) -> torch.Tensor:
    """The input of the example: the integers 0 to 4, repeating, in ``shape``."""
    return (torch.arange(torch.Size(shape).numel()) % 5).reshape(shape).float()


@dataclass(frozen=True)
class Element:
    """One output element by hand: ``groups[c]`` holds the (input value, weight) pairs of the
    filter of input channel ``c`` whose products land on it; ``torch`` is ``module(x)`` there."""

    index: tuple[int, ...]
    bias: int
    groups: tuple[tuple[tuple[int, int], ...], ...]
    torch: float

    @property
    def value(self) -> int:
        """The bias plus every product, summed by hand."""
        return self.bias + sum(x * w for group in self.groups for x, w in group)

    @property
    def multiplications(self) -> int:
        return sum(len(group) for group in self.groups)

    @property
    def filters(self) -> int:
        """The filters with a product landing on the element."""
        return sum(1 for group in self.groups if group)

    @property
    def filter_additions(self) -> int:
        """Additions inside the filters: each group of products summed."""
        return sum(len(group) - 1 for group in self.groups if group)

    @property
    def aggregation_additions(self) -> int:
        """Additions combining the filters' sums (one fewer than the filters), and the bias."""
        return self.filters - 1 + 1


def element(module: torch.nn.Module, x: torch.Tensor, index: tuple[int, ...]) -> Element:
    """Output element ``index`` (sample 0, output channel 0, spatial position ``index``) of
    ``module`` (stride 1, no padding, one output channel) on ``x``, from the definition: a
    convolution multiplies input position ``o + t`` by tap ``t``; a transposed convolution sends
    input position ``m`` times tap ``t`` to output position ``m + t``."""
    transposed = kind_of(module).transposed
    spatial = x.shape[2:]
    taps = list(itertools.product(*(range(k) for k in module.kernel_size)))
    groups = []
    for c in range(x.shape[1]):
        weight = module.weight[c, 0] if transposed else module.weight[0, c]
        if transposed:
            pairs = [(m, t) for m in itertools.product(*map(range, spatial)) for t in taps
                     if all(mi + ti == oi for mi, ti, oi in zip(m, t, index))]
        else:
            pairs = [(tuple(oi + ti for oi, ti in zip(index, t)), t) for t in taps]
        groups.append(tuple((int(x[0, c][m]), int(weight[t])) for m, t in pairs))
    with torch.no_grad():
        computed = float(module(x)[(0, 0, *index)])
    return Element(index, int(module.bias[0]), tuple(groups), computed)


def _sum_latex(e: Element) -> str:
    """The hand sum, one line per filter's bracket of products, then its value beside torch's."""
    brackets = [r"\left(" + " + ".join(rf"{x} \cdot {w}" for x, w in group) + r"\right)"
                for group in e.groups if group]
    position = ", ".join(map(str, e.index))
    lines = [rf"y[0, 0, {position}] &= {e.bias}", *(rf"&\quad + {b}" for b in brackets),
             rf"&= {e.value} \quad \text{{(torch: {e.torch:g})}}"]
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def worked_example(kind, index: tuple[int, ...] | None = None) -> None:
    """Display the worked example of ``kind``: the layer and its input, output element
    ``index`` (by default the last position of a convolution's output, the middle of a transposed
    one's) summed by hand beside torch's value, and what that element costs.  Raises
    ``ValueError`` where the hand sum is not torch's value."""
    from IPython.display import Math, display

    module, shape = tiny_layer(kind)
    x = tiny_input(shape)
    if index is None:
        index = (1,) * kind_of(kind).ndim
    e = element(module, x, index)
    if e.value != e.torch:
        raise ValueError(f"the hand sum {e.value} is not torch's {e.torch} at {index}")
    display(Math(_sum_latex(e)), Table(
        ("this element", "count"),
        (("multiplications: one per product", str(e.multiplications)),
         (f"additions inside the {e.filters} filters (λ's share)",
          str(e.filter_additions)),
         ("additions combining the filters, and the bias (γ's share)",
          str(e.aggregation_additions))),
        caption=f"{module!r} with weights {module.weight.flatten().int().tolist()}, bias "
                f"{e.bias}, on x = {x.flatten().int().tolist()} (shape {shape})"))
