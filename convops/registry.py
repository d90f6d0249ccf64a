"""The convolution family: every torch operator that computes a convolution, and how to read it.

Each operator that can reach the capture (:mod:`convops.capture`) with a convolution's arithmetic
maps to one small pure function from the call's arguments to what convops counts, as
``torch.utils.flop_counter`` maps operators to FLOP formulas (``register_flop_formula``):

- :data:`FORWARD`: the call's :class:`Convolution` (a :class:`~convops.layer.Layer`, the input
  shape it is counted on, the output shape torch gave), for ``aten.convolution`` and the leaf
  operators a model may call in its place (``_convolution``, ``conv_tbc``) and for the quantized operators eager, QAT and FX quantization run on the CPU
  (``quantized::conv2d.new``, ``conv2d_relu``, ``conv_transpose2d``, …);
- :data:`BACKWARD`: ``aten.convolution_backward``'s :class:`Gradients`.

Composite operators (``aten.conv2d``, ``conv2d.padding``, ``conv_transpose2d``, …) are not
here: the capture decomposes them, so they arrive as ``aten.convolution`` in every grad mode
(:func:`composite`).  :data:`REFUSED` lists the operators with a convolution's arithmetic that
convops does not count, each with the reason: the capture refuses them by name
(:func:`refusal`), so a convolution is never dropped from a total.  :data:`NOT_ARITHMETIC`
lists the operators whose name says "conv" that are no convolution's arithmetic.  Nothing else
in convops names a convolution operator.

A quantized convolution is counted as the direct algorithm's multiplications and additions,
like a float one (the integer multiply-accumulates, and the bias additions): requantisation and
zero-point arithmetic are not convolution arithmetic.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch

from .derivation import KINDS
from .errors import ConvopsError
from .layer import Layer

_KINDS = {(kind.ndim, kind.transposed): kind for kind in KINDS.values()}
aten, quantized = torch.ops.aten, torch.ops.quantized


class Convolution(NamedTuple):
    """One convolution call: the layer it computes, the input shape ``(N, C_in, *spatial)`` it
    is counted on, and the output shape torch gave (in the same layout).

    Examples
    --------
    >>> x, w = torch.empty(2, 4, 10, device="meta"), torch.empty(8, 4, 3, device="meta")
    >>> func = torch.ops.aten.convolution.default
    >>> args = (x, w, None, [1], [1], [1], False, [0], 1)
    >>> call = forward(func, args, None, func(*args))
    >>> call.layer.kind.name, call.layer.bias, call.input_shape, call.output_shape
    ('Conv1d', False, (2, 4, 10), (2, 8, 10))

    See Also
    --------
    Gradients : a backward call's.
    """

    layer: Layer
    input_shape: tuple
    output_shape: tuple


class Gradients(NamedTuple):
    """One backward call: the layer, its input and weight tensors (the very ones autograd took
    from the forward call), the gradients computed, and the output gradient's shape.

    Examples
    --------
    >>> x, w = torch.empty(2, 4, 10, device="meta"), torch.empty(8, 4, 3, device="meta")
    >>> dy = torch.empty(2, 8, 8, device="meta")
    >>> func = torch.ops.aten.convolution_backward.default
    >>> call = backward(func, (dy, x, w, None, [1], [0], [1], False, [0], 1,
    ...                        [False, True, False]), None)
    >>> call.layer.kind.name, call.gradients, call.output_shape, call.input is x
    ('Conv1d', ('weight',), (2, 8, 8), True)

    See Also
    --------
    Convolution : a forward call's.
    """

    layer: Layer
    input: torch.Tensor
    weight: torch.Tensor
    gradients: tuple[str, ...]
    output_shape: tuple


_SCHEMAS: dict = {}


def arguments(func, args: tuple, kwargs: dict | None) -> tuple:
    """A call's arguments, positional (defaults filled in after the last one given).

    Examples
    --------
    >>> arguments(torch.ops.aten.conv_tbc.default, ("x", "w", "b"), {})
    ('x', 'w', 'b', 0)
    """
    schema = _SCHEMAS.get(func)
    if schema is None:
        schema = _SCHEMAS.setdefault(func, func._schema.arguments)
    if not kwargs and len(args) == len(schema):
        return tuple(args)
    rest = schema[len(args):]
    return (*args, *((kwargs or {}).get(a.name, a.default_value) for a in rest))


def layer_of(weight_shape, bias: bool, stride, padding, dilation, transposed: bool,
             output_padding, groups: int) -> Layer:
    """The :class:`Layer` of a convolution with a weight of ``weight_shape`` (torch's layout:
    ``(C_out, C_in/g, *k)``, transposed ``(C_in, C_out/g, *k)``) and torch's resolved arguments.

    Examples
    --------
    >>> layer = layer_of((8, 2, 3, 3), False, [2, 2], [1, 1], [1, 1], False, [0, 0], 2)
    >>> layer.kind.name, layer.in_channels, layer.out_channels, layer.groups, layer.bias
    ('Conv2d', 4, 8, 2, False)
    >>> layer_of((8, 2, 3, 3), False, [1], [0], [1], False, [0], 1).padding
    (0, 0)
    """
    shape = tuple(weight_shape)
    kind = _KINDS.get((len(shape) - 2, bool(transposed)))
    if kind is None:
        raise ConvopsError(f"a convolution with a {len(shape)}-d weight {shape}: convops counts "
                           "1-, 2- and 3-d convolutions")
    n = kind.ndim  # torch expands a one-element list to every dimension (padding='valid': [0])
    stride, padding, dilation, output_padding = (
        tuple(v) * n if len(v) == 1 else tuple(v)
        for v in (stride, padding, dilation, output_padding))
    if transposed:
        in_channels, out_channels = shape[0], shape[1] * groups
    else:
        in_channels, out_channels = shape[1] * groups, shape[0]
        if any(output_padding):
            raise ConvopsError(f"output_padding={tuple(output_padding)} on a convolution that is "
                               "not transposed")
    return Layer(kind, in_channels, out_channels, shape[2:], stride, padding, dilation, groups,
                 bool(bias), "zeros", output_padding)


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


# -- forward ---------------------------------------------------------------------------------------
def convolution(args: tuple, out) -> Convolution:
    """``aten.convolution`` (and ``_convolution``, whose first nine arguments are the same).

    Examples
    --------
    >>> x, w = torch.empty(1, 4, 9, device="meta"), torch.empty(8, 4, 3, device="meta")
    >>> call = convolution((x, w, None, [1], [0], [1], False, [0], 1), torch.empty(1, 8, 7))
    >>> call.layer.kind.name, call.input_shape, call.output_shape
    ('Conv1d', (1, 4, 9), (1, 8, 7))
    """
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args[:9]
    layer = layer_of(weight.shape, bias is not None, stride, padding, dilation, transposed,
                     output_padding, groups)
    return Convolution(layer, _shape(x), _shape(out))


def conv_tbc(args: tuple, out) -> Convolution:
    """``aten.conv_tbc``: a 1-d convolution of an input laid out (time, batch, channels), with a
    weight (kernel, C_in, C_out), a bias and ``pad`` on both sides; counted on ``(N, C_in, T)``.

    Examples
    --------
    >>> x, w, b = torch.empty(10, 2, 4), torch.empty(3, 4, 8), torch.empty(8)
    >>> conv_tbc((x, w, b, 1), torch.empty(10, 2, 8))
    Convolution(layer=Layer(kind=Kind(name='Conv1d', ndim=1, transposed=False), in_channels=4, out_channels=8, kernel_size=(3,), stride=(1,), padding=(1,), dilation=(1,), groups=1, bias=True, padding_mode='zeros', output_padding=(0,)), input_shape=(2, 4, 10), output_shape=(2, 8, 10))
    """
    x, weight, bias, pad = args[:4]
    k, c_in, c_out = weight.shape
    layer = Layer(KINDS["Conv1d"], c_in, c_out, (k,), (1,), (pad,), (1,), 1, True, "zeros", (0,))
    t, n, c = x.shape
    t_out, _, c_o = out.shape
    return Convolution(layer, (n, c, t), (n, c_o, t_out))


def _quantized(ndim: int, transposed: bool, packed_at: int = 1
               ) -> Callable[[tuple, Any], Convolution]:
    """A quantized convolution ``(qx, …, packed_weight, …)``, its packed weight at ``packed_at``:
    the layer of that packed weight (a 1-d one is packed as 2-d, with a leading spatial size of
    1; the stride, padding, dilation and groups that the deprecated overloads still take are
    ignored by torch, which reads them from the packed weight too)."""
    def read(args: tuple, out) -> Convolution:
        x, packed = args[0], args[packed_at]
        weight, bias = packed.unpack()
        stride, padding, dilation = packed.stride(), packed.padding(), packed.dilation()
        output_padding = packed.output_padding() if transposed else [0] * len(stride)
        shape = tuple(weight.shape)
        if ndim == 1 and len(shape) == 4:  # (…, 1, k): the leading spatial dimension is a 1
            shape, stride, padding, dilation, output_padding = (
                shape[:2] + shape[3:], stride[1:], padding[1:], dilation[1:], output_padding[1:])
        layer = layer_of(shape, bias is not None, stride, padding, dilation, transposed,
                         output_padding, packed.groups())
        return Convolution(layer, _shape(x), _shape(out))
    read.__name__ = read.__qualname__ = f"quantized_conv{'_transpose' if transposed else ''}{ndim}d"
    read.__doc__ = (f"A quantized {'transposed ' if transposed else ''}{ndim}-d convolution "
                    "(see :func:`_quantized`).")
    return read


FORWARD: dict[Any, Callable[[tuple, Any], Convolution]] = {
    aten.convolution.default: convolution,
    aten._convolution.default: convolution,
    aten._convolution.deprecated: convolution,
    aten.conv_tbc.default: conv_tbc,
}
for _ndim in (1, 2, 3):
    for _name in (f"conv{_ndim}d", f"conv{_ndim}d_relu"):
        for _overload in ("default", "new"):
            if hasattr(getattr(quantized, _name), _overload):
                FORWARD[getattr(getattr(quantized, _name), _overload)] = _quantized(_ndim, False)
    FORWARD[getattr(quantized, f"conv_transpose{_ndim}d").default] = _quantized(_ndim, True)
for _name in ("conv2d_add", "conv2d_add_relu"):  # (qx, qaccum, packed, …): the accumulation of
    FORWARD[getattr(quantized, _name).default] = _quantized(2, False, 2)  # qaccum is not counted


# -- backward --------------------------------------------------------------------------------------
def convolution_backward(args: tuple) -> Gradients:
    """``aten.convolution_backward``: the layer and the gradients its ``output_mask`` asks for.

    Examples
    --------
    >>> g, x, w = (torch.empty(s, device="meta") for s in ((1, 8, 7), (1, 4, 9), (8, 4, 3)))
    >>> call = convolution_backward((g, x, w, [8], [1], [0], [1], False, [0], 1, [False, True, True]))
    >>> call.layer.bias, call.gradients, call.output_shape
    (True, ('weight', 'bias'), (1, 8, 7))
    """
    grad_output, x, weight, bias_sizes, *rest, output_mask = args[:11]
    # bias_sizes is [C_out] for a layer with bias, [0] or None without
    layer = layer_of(weight.shape, bool(bias_sizes and bias_sizes[0]), *rest)
    gradients = tuple(g for g, wanted in zip(("input", "weight", "bias"), output_mask) if wanted)
    return Gradients(layer, x, weight, gradients, _shape(grad_output))


BACKWARD: dict[Any, Callable[[tuple], Gradients]] = {
    aten.convolution_backward.default: convolution_backward,
}

# -- the rest of the family ------------------------------------------------------------------------
#: Operators with a convolution's arithmetic that convops does not count, by name, with why:
#: the capture refuses them.  Backend kernels run below ``aten.convolution`` (the capture sees
#: the ``aten.convolution`` call, not them); they reach it only when called by name.
REFUSED: dict[str, str] = {
    **{name: "a backend kernel of aten.convolution, called directly" for name in (
        "aten::_conv_depthwise2d", "aten::_mps_convolution", "aten::_mps_convolution_transpose",
        "aten::_nnpack_spatial_convolution", "aten::_slow_conv2d_forward", "aten::conv_depthwise3d",
        "aten::cudnn_convolution", "aten::cudnn_convolution_add_relu", "aten::cudnn_convolution_relu",
        "aten::cudnn_convolution_transpose", "aten::miopen_convolution",
        "aten::miopen_convolution_add_relu", "aten::miopen_convolution_relu",
        "aten::miopen_convolution_transpose", "aten::miopen_depthwise_convolution",
        "aten::mkldnn_convolution", "aten::slow_conv3d", "aten::slow_conv3d_forward",
        "aten::slow_conv_dilated2d", "aten::slow_conv_dilated3d", "aten::slow_conv_transpose2d",
        "aten::slow_conv_transpose3d", "aten::thnn_conv2d", "mkldnn::_convolution_pointwise",
        "mkldnn::_convolution_pointwise_", "mkldnn::_convolution_transpose_pointwise",
        "mkldnn_prepacked::conv2d_run")},
    **{name: "a backend kernel of aten.convolution_backward, called directly" for name in (
        "aten::_slow_conv2d_backward", "aten::convolution_backward_overrideable",
        "aten::mps_convolution_backward", "aten::mps_convolution_transpose_backward")},
    "aten::convolution_overrideable": "the hook of backends outside torch (not implemented on "
                                      "the CPU or meta): not counted by convops",
    "aten::_convolution_double_backward": "the gradients of a convolution's gradients "
                                          "(double backward): not derived by convops",
    "aten::conv_tbc_backward": "conv_tbc's backward: not derived by convops",
    **{name: "a dynamically quantized convolution (float input, quantized on the fly): not "
             "counted by convops" for name in (
        "quantized::conv1d_dynamic", "quantized::conv2d_dynamic", "quantized::conv3d_dynamic",
        "quantized::conv_transpose1d_dynamic", "quantized::conv_transpose2d_dynamic",
        "quantized::conv_transpose3d_dynamic")},
    **{name: "a quantized convolution of torch's export (PT2E) lowering, with a prepacked "
             "weight convops cannot read" for name in (
        "onednn::qconv1d_pointwise", "onednn::qconv2d_pointwise", "onednn::qconv3d_pointwise",
        "onednn::qconv_pointwise")},
    **{name: "a legacy quantized convolution of the _quantized namespace (not run by "
             "torch.ao.quantization)" for name in (
        "_quantized::conv2d", "_quantized::conv2d_relu", "_quantized::conv3d",
        "_quantized::conv3d_relu", "_quantized::conv_transpose1d", "_quantized::conv_transpose2d")},
}

#: Operators whose name says "conv" that are no convolution's arithmetic, with why.
NOT_ARITHMETIC: dict[str, str] = {
    **{name: "packs or unpacks a quantized weight (no arithmetic of the convolution)" for name in (
        "_quantized::conv2d_prepack", "_quantized::conv3d_prepack",
        "_quantized::conv_transpose1d_prepack", "_quantized::conv_transpose2d_prepack",
        "_quantized::conv_transpose3d_prepack", "quantized::conv1d_prepack",
        "quantized::conv1d_unpack", "quantized::conv2d_prepack", "quantized::conv2d_unpack",
        "quantized::conv3d_prepack", "quantized::conv3d_unpack", "quantized::conv_prepack",
        "quantized::conv_transpose1d_prepack", "quantized::conv_transpose1d_unpack",
        "quantized::conv_transpose2d_prepack", "quantized::conv_transpose2d_unpack",
        "quantized::conv_transpose3d_prepack", "quantized::conv_transpose3d_unpack",
        "quantized::conv_unpack", "quantized::conv2d_unpack_sizes", "onednn::qconv_prepack",
        "mkldnn_prepacked::conv2d_prepack")},
    **{name: "reads one argument of a packed quantized weight" for name in (
        f"quantized::{conv}_{field}" for conv in ("conv2d", "conv3d", "conv_transpose2d",
                                                  "conv_transpose3d")
        for field in ("stride", "padding", "dilation", "groups", "output_padding", "transpose"))},
    **{name: "reorders a weight's memory for a backend (no arithmetic)" for name in (
        "aten::mkldnn_reorder_conv2d_weight", "aten::mkldnn_reorder_conv3d_weight",
        "mkldnn::_reorder_convolution_transpose_weight", "mkldnn::_reorder_convolution_weight")},
    **{name: "converts a dtype or a weight's format, or sparse indices: not a convolution"
       for name in ("prims::convert_element_type", "quantized_decomposed::convert_element_type",
                    "aten::_convert_indices_from_coo_to_csr",
                    "aten::_convert_indices_from_csr_to_coo", "aten::_convert_weight_to_int4pack",
                    "aten::_convert_weight_to_int4pack_for_cpu")},
}

_COMPOSITE = torch._C.DispatchKey.CompositeImplicitAutograd
_ROLES: dict = {}


def role(func) -> str:
    """What the capture does with an operator: ``"forward"`` or ``"backward"`` (count it),
    ``"composite"`` (decompose it), ``"refused"`` (a convolution convops does not count),
    or ``""`` (list it, not counted).

    Examples
    --------
    >>> [role(f) for f in (torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default,
    ...                    torch.ops.aten.relu.default, torch.ops.quantized.conv2d_relu.new)]
    ['composite', 'forward', '', 'forward']
    """
    try:
        return _ROLES[func]
    except KeyError:
        pass
    name = func._schema.name
    if func in FORWARD:
        result = "forward"
    elif func in BACKWARD:
        result = "backward"
    elif name in REFUSED:  # composites among them too: what they decompose into is refused
        result = "refused"
    elif composite(func):
        result = "composite"
    elif "conv" in name.lower().replace("convert", "") and name not in NOT_ARITHMETIC:
        result = "refused"
    else:
        result = ""
    return _ROLES.setdefault(func, result)


def composite(func) -> bool:
    """Whether torch defines ``func`` by other operators (CompositeImplicitAutograd): the capture
    runs what it decomposes into, as autograd does outside inference mode.

    Examples
    --------
    >>> composite(torch.ops.aten.conv2d.default), composite(torch.ops.aten.convolution.default)
    (True, False)
    """
    return torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), _COMPOSITE)


def refusal(func, where: str) -> ConvopsError:
    """The :class:`ConvopsError` for a convolution operator convops does not count.

    Examples
    --------
    >>> print(refusal(torch.ops.aten.mkldnn_convolution.default, "conv (Conv2d)"))
    conv (Conv2d): aten.mkldnn_convolution.default is a convolution convops does not count (a backend kernel of aten.convolution, called directly); call torch.nn.functional.conv1d/2d/3d or conv_transpose1d/2d/3d instead
    """
    name, overload = func._schema.name, func._overloadname
    reason = REFUSED.get(name) or (
        "an out= variant" if "out" in overload else
        "an operator named like a convolution that convops does not know")
    return ConvopsError(f"{where}: {func} is a convolution convops does not count ({reason}); "
                        "call torch.nn.functional.conv1d/2d/3d or conv_transpose1d/2d/3d instead")


def forward(func, args: tuple, kwargs: dict | None, out) -> Convolution:
    """The :class:`Convolution` of a call of a :data:`FORWARD` operator.

    Examples
    --------
    >>> x, w = torch.empty(1, 2, 9, device="meta"), torch.empty(4, 2, 3, device="meta")
    >>> func, args = torch.ops.aten.convolution.default, (x, w, None, [2], [0], [1], False, [0], 1)
    >>> forward(func, args, None, func(*args)).layer.stride
    (2,)

    See Also
    --------
    backward : a backward call's.
    """
    return FORWARD[func](arguments(func, args, kwargs), out)


def backward(func, args: tuple, kwargs: dict | None) -> Gradients:
    """The :class:`Gradients` of a call of a :data:`BACKWARD` operator.

    Examples
    --------
    >>> x, w = torch.empty(1, 2, 9, device="meta"), torch.empty(4, 2, 3, device="meta")
    >>> dy, func = torch.empty(1, 4, 7, device="meta"), torch.ops.aten.convolution_backward.default
    >>> backward(func, (dy, x, w, [4], [1], [0], [1], False, [0], 1, [True, True, True]),
    ...          None).gradients
    ('input', 'weight', 'bias')

    See Also
    --------
    forward : a forward call's.
    """
    return BACKWARD[func](arguments(func, args, kwargs))
