"""convops side by side with the counters people use, every difference converted or explained.

Each peer is described by three things, kept apart on purpose:

* ``expected``: convops' exact count converted to the peer's *convention* (e.g. FlopCounterMode
  reports 2 FLOPs per multiplication and ignores the bias) — where the peer is right, its number
  equals this one exactly;
* ``emulate``: the formula the peer actually evaluates, read from its source — it reproduces the
  peer's number exactly, including where the peer is wrong;
* ``bugs``: named conditions on the layer under which the two differ.

A disagreement is *explained* when the peer's number equals ``emulate`` and at least one named bug
applies to the layer.  The peers are optional: a peer that is not installed is skipped.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import math
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import torch

from .count import Breakdown, breakdown
from .layer import Layer
from .reference import additions_by_ones, flop_counter_flops


# -- the peers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bug:
    """A named way a peer goes wrong, and the layers it applies to.

    Examples
    --------
    >>> from convops.peers import PEERS
    >>> [bug.name for bug in PEERS['fvcore'].bugs][:1]
    ["padding='same' or 'valid': aten::_convolution_mode is not handled, counted as 0"]
    """

    name: str
    applies: Callable[[Layer, tuple, Breakdown], bool] = field(repr=False)


@dataclass(frozen=True)
class Peer:
    """A counter people use, described by its convention, its own formula and its named bugs.

    Examples
    --------
    >>> from convops.peers import PEERS
    >>> peer = PEERS['FlopCounterMode']
    >>> peer.name, peer.available
    ('FlopCounterMode', True)

    See Also
    --------
    available_peers : the peers installed here.
    compare : convops against each peer on one layer.
    """

    name: str
    package: str  #: the module to import; the peer is skipped when it is missing
    convention: str
    run: Callable[[torch.nn.Module, tuple], object] = field(repr=False)
    expected: Callable[[Layer, tuple, Breakdown], Fraction] = field(repr=False)
    emulate: Callable[[Layer, tuple, Breakdown], Fraction | None] = field(repr=False)
    bugs: tuple[Bug, ...] = ()

    @property
    def available(self) -> bool:
        """Whether the peer's package is installed.

        Examples
        --------
        >>> from convops.peers import PEERS
        >>> PEERS['FlopCounterMode'].available
        True
        """
        return importlib.util.find_spec(self.package) is not None

    def count(self, module: torch.nn.Module, input_shape: Sequence[int]) -> Fraction | None:
        """The peer's number for ``module`` on ``input_shape`` (``None``: the peer has none).

        Examples
        --------
        >>> import torch
        >>> from convops.peers import PEERS
        >>> PEERS['FlopCounterMode'].count(torch.nn.Conv1d(1, 1, 3), (1, 1, 5))
        Fraction(18, 1)
        """
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            value = self.run(module, tuple(input_shape))
        return None if value is None else Fraction(value)


def _zeros(shape):
    return torch.zeros(shape)


def _fvcore(module, shape):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module, _zeros(shape))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis.total()


def _ptflops(module, shape):
    from ptflops import get_model_complexity_info

    macs, _ = get_model_complexity_info(copy.deepcopy(module), shape, as_strings=False,
                                        print_per_layer_stat=False, backend="pytorch",
                                        input_constructor=_zeros)
    return macs


def _thop(module, shape):
    from thop import profile

    ops, _ = profile(copy.deepcopy(module), (_zeros(shape),), verbose=False)
    return float(ops)


def _moduleprofiler(module, shape):
    from moduleprofiler import ModuleProfiler

    return ModuleProfiler().estimate_ops(module, _zeros(shape))["__root__"]["ops"]


def _spatial(shape, layer: Layer) -> tuple[int, ...]:
    return tuple(shape[-layer.kind.ndim:])


def _unbatched(layer: Layer, shape) -> bool:
    return len(shape) == layer.kind.ndim + 1


def _bias_additions(layer: Layer, shape, b: Breakdown) -> int:
    return int(layer.bias) * b.batch * math.prod(b.output_shape[-layer.kind.ndim - 1:])


def _thop_emulate(layer, shape, b):
    # calculate_conv2d_flops: prod(y.shape) * (x.shape[1] // groups) * prod(kernel)
    return Fraction(math.prod(b.output_shape) * (shape[1] // layer.groups)
                    * math.prod(layer.kernel_size))


def _ptflops_emulate(layer, shape, b):
    # conv_flops_counter_hook, then divided by the batch counter len(x) = x.shape[0]
    batch = shape[0]
    positions = (shape if layer.kind.transposed else b.output_shape)[2:]
    macs = (math.prod(layer.kernel_size) * layer.in_channels * (layer.out_channels // layer.groups)
            * batch * math.prod(positions))
    macs += int(layer.bias) * batch * math.prod(b.output_shape[1:])
    return Fraction(macs, batch)


# moduleprofiler's batch size: 1 if x.ndim == this, else x.shape[0] (kinds it has a formula for)
_MP_UNBATCHED_NDIM = {"Conv1d": 2, "Conv2d": 2, "ConvTranspose1d": 1, "ConvTranspose2d": 2}


def _mp_batch(layer, shape):
    return 1 if len(shape) == _MP_UNBATCHED_NDIM[layer.kind.name] else shape[0]


def _mp_additions_per_filter(layer, shape) -> int:
    # its all-ones transposed convolution: no output_padding, and sum(n_o - 1) without clipping
    return additions_by_ones(_spatial(shape, layer), layer.kernel_size, layer.stride,
                             layer.dilation, layer.padding, 0, clip=False)


def _moduleprofiler_emulate(layer, shape, b):
    if layer.kind.name not in _MP_UNBATCHED_NDIM:
        return None
    batch, g, k = _mp_batch(layer, shape), layer.groups, math.prod(layer.kernel_size)
    out = math.prod(_spatial(b.output_shape, layer))
    cin, cout, no_bias = layer.in_channels, layer.out_channels, int(not layer.bias)
    if not layer.kind.transposed:
        return Fraction(batch * cout * out * (2 * cin * k - g * no_bias), g)
    psi = Fraction(cin * cout, g)
    return (batch * psi * (out * (k + 1) + _mp_additions_per_filter(layer, shape))
            - no_bias * batch * cout * out)


def _transposed_on_output(layer, shape, b):
    return layer.kind.transposed and math.prod(_spatial(b.output_shape, layer)) != math.prod(
        _spatial(shape, layer))


def _gaps(layer, shape, b):
    """Some output position receives no product (a stride larger than the dilated kernel)."""
    if not layer.kind.transposed:
        return False
    args = (_spatial(shape, layer), layer.kernel_size, layer.stride, layer.dilation, layer.padding, 0)
    return additions_by_ones(*args, clip=False) != additions_by_ones(*args, clip=True)


def _output_padding_dropped(layer, shape, b):
    if not layer.kind.transposed or not any(layer.output_padding):
        return False
    args = (_spatial(shape, layer), layer.kernel_size, layer.stride, layer.dilation, layer.padding)
    return additions_by_ones(*args, 0) != additions_by_ones(*args, layer.output_padding)


PEERS: dict[str, Peer] = {peer.name: peer for peer in (
    Peer("FlopCounterMode", "torch",
         "FLOPs = 2 per multiply-accumulate; the bias is ignored; expected = 2·multiplications",
         flop_counter_flops, lambda layer, shape, b: Fraction(b.flops),
         lambda layer, shape, b: Fraction(2 * b.multiplications)),
    Peer("fvcore", "fvcore",
         "'flops' = 1 per multiply-accumulate; the bias is ignored; expected = multiplications",
         _fvcore, lambda layer, shape, b: Fraction(b.multiplications),
         # a string padding traces to aten::_convolution_mode, which fvcore has no handle for
         lambda layer, shape, b: Fraction(0 if isinstance(layer.padding, str) else b.multiplications),
         (Bug("padding='same' or 'valid': aten::_convolution_mode is not handled, counted as 0",
              lambda layer, shape, b: isinstance(layer.padding, str)),)),
    Peer("ptflops", "ptflops",
         "MACs per sample (divided by the batch size) = multiplications + bias additions, over N;"
         " expected = (multiplications + b·N·C_out·prod(output size)) / N",
         _ptflops, lambda layer, shape, b: Fraction(b.multiplications
                                                    + _bias_additions(layer, shape, b), b.batch),
         _ptflops_emulate,
         (Bug("unbatched input: C_in read as the batch size, first spatial dimension dropped",
              lambda layer, shape, b: _unbatched(layer, shape)),)),
    Peer("thop", "thop",
         "ops = 1 per multiply-accumulate; the bias is ignored; expected = multiplications",
         _thop, lambda layer, shape, b: Fraction(b.multiplications), _thop_emulate,
         (Bug("transposed: counted at every output position (C_out·out·C_in/g·k) instead of "
              "every input element", _transposed_on_output),
          Bug("unbatched input: the first spatial size read as C_in",
              lambda layer, shape, b: _unbatched(layer, shape)
              and shape[1] // layer.groups != layer.in_channels // layer.groups))),
    Peer("moduleprofiler", "moduleprofiler",
         "ops = multiplications + additions, bias included: the same model as convops; "
         "expected = total",
         _moduleprofiler, lambda layer, shape, b: Fraction(b.total), _moduleprofiler_emulate,
         (Bug("Conv3d/ConvTranspose3d: no formula (reports None)",
              lambda layer, shape, b: layer.kind.name not in _MP_UNBATCHED_NDIM),
          Bug("unbatched input: C_in read as the batch size",
              lambda layer, shape, b: layer.kind.name in _MP_UNBATCHED_NDIM
              and _mp_batch(layer, shape) != b.batch),
          Bug("transposed: multiplications counted at every output position instead of every "
              "input element", _transposed_on_output),
          Bug("transposed: output positions that no product reaches count -1 addition", _gaps),
          Bug("transposed: output_padding left out of the additions", _output_padding_dropped))),
)}


def available_peers() -> list[Peer]:
    """The peers of :data:`PEERS` whose package is installed.

    Examples
    --------
    >>> import torch
    >>> from convops.peers import available_peers
    >>> "FlopCounterMode" in [peer.name for peer in available_peers()]  # torch ships it
    True
    """
    return [peer for peer in PEERS.values() if peer.available]


# -- comparing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeerResult:
    """One peer's number for one layer, beside convops' count in that peer's convention.

    Examples
    --------
    >>> from convops.peers import PEERS, compare
    >>> compare('Conv1d(1, 1, 3)', (1, 1, 5), [PEERS['FlopCounterMode']]).results[0].verdict
    'agrees'
    """

    peer: str
    value: Fraction | None  #: what the peer reports
    expected: Fraction  #: convops' count in the peer's convention
    emulated: Fraction | None  #: the peer's own formula, evaluated exactly
    bugs: tuple[str, ...]  #: named bugs that apply to the layer

    @property
    def agrees(self) -> bool:
        """The peer reports convops' count, converted to its convention.

        Examples
        --------
        >>> from convops.peers import PEERS, compare
        >>> compare('Conv1d(1, 1, 3)', (1, 1, 5), [PEERS['FlopCounterMode']]).results[0].agrees
        True

        See Also
        --------
        explained : agrees, or differs by a named bug.
        """
        return self.value == self.expected

    @property
    def explained(self) -> bool:
        """The peer agrees, or its own formula gives its number and a named bug applies.

        Examples
        --------
        >>> from convops.peers import PEERS, compare
        >>> compare('Conv1d(1, 1, 3)', (1, 1, 5), [PEERS['FlopCounterMode']]).results[0].explained
        True

        See Also
        --------
        agrees : the peer reports convops' count.
        """
        return self.agrees or (self.value == self.emulated and bool(self.bugs))

    @property
    def verdict(self) -> str:
        """``"agrees"``, the named bugs that explain the difference, or ``"UNEXPLAINED"``.

        Examples
        --------
        >>> from convops.peers import PEERS, compare
        >>> compare('Conv1d(1, 1, 3)', (1, 1, 5), [PEERS['FlopCounterMode']]).results[0].verdict
        'agrees'
        """
        if self.agrees:
            return "agrees"
        if self.explained:
            return "; ".join(self.bugs)
        return "UNEXPLAINED"


@dataclass(frozen=True)
class Comparison:
    """One layer on one input: convops' counts and every available peer's.

    Examples
    --------
    >>> from convops.peers import PEERS, compare
    >>> c = compare('Conv1d(1, 1, 3)', (1, 1, 5), [PEERS['FlopCounterMode']])
    >>> c.spec, c.input_shape, c.breakdown.total
    ('Conv1d(1, 1, 3)', (1, 1, 5), 18)

    See Also
    --------
    compare : what builds it.
    """

    spec: str
    input_shape: tuple[int, ...]
    breakdown: Breakdown
    results: tuple[PeerResult, ...]


def compare(spec: str, input_shape: Sequence[int],
            peers: Sequence[Peer] | None = None) -> Comparison:
    """convops and each peer on the layer written as ``spec`` (e.g. ``"Conv2d(3, 8, 3)"``).

    ``peers`` defaults to every installed one (:func:`available_peers`).

    Examples
    --------
    >>> from convops.peers import PEERS, compare
    >>> c = compare("ConvTranspose1d(1, 1, 3, stride=2)", (1, 1, 4), [PEERS["FlopCounterMode"]])
    >>> c.breakdown.multiplications, c.results[0].value, c.results[0].verdict
    (12, Fraction(24, 1), 'agrees')
    """
    layer, shape = Layer.parse(spec), tuple(input_shape)
    b = breakdown(layer, shape)
    module = layer.to_module()
    results = []
    for peer in (available_peers() if peers is None else peers):
        bugs = tuple(bug.name for bug in peer.bugs if bug.applies(layer, shape, b))
        results.append(PeerResult(peer.name, peer.count(module, shape),
                                  peer.expected(layer, shape, b), peer.emulate(layer, shape, b),
                                  bugs))
    return Comparison(spec, shape, b, tuple(results))


