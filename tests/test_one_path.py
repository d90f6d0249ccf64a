"""count_ops and profile count the same: what the module's call runs (issue 25, item 4).

A property test draws modules (plain, hooked, pre-hooked, parametrized, subclassed, fused, QAT)
and asserts, wherever count_ops does not refuse, ``count_ops(m, s) == profile(m, s).total`` in
the module's own mode.  The probes of the issue, each against an independent count (explicit
loops of :mod:`convops.reference`), follow.
"""

import os

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.qat as nnqat
import torch.ao.quantization as tq
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn.utils import parametrize

import convops
from configs import layers
from test_what_runs import instrumented_total as instrumented

EXAMPLES = 10_000 if os.environ.get("CONVOPS_HYPOTHESIS") == "thorough" else 200
pytestmark = pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated")


class PadKernel(nn.Module):
    """A parametrization that pads the kernel with zeros, one tap on each side of each dimension
    (``unsafe``: the weight's shape changes)."""

    def forward(self, weight):
        return F.pad(weight, (1, 1) * (weight.dim() - 2))


class Subclassed:
    """Mixed into a torch convolution class: a _conv_forward of its own that calls torch's."""

    def _conv_forward(self, x, weight, bias, *rest):
        return super()._conv_forward(x, weight, bias, *rest)


def second_convolution(module, args, output):
    return output + F.conv1d(output.flatten(0, -2)[:, None], torch.ones(1, 1, 1)).view_as(output)


WRAPS = {
    "plain": lambda m: m,
    "hooked": lambda m: (m.register_forward_hook(lambda mod, args, out: out * 2), m)[1],
    "hooked, a second convolution": lambda m: (m.register_forward_hook(second_convolution), m)[1],
    "pre-hooked": lambda m: (m.register_forward_pre_hook(
        lambda mod, args: F.pad(args[0], (1, 1) * (args[0].dim() - 2 - (args[0].dim() == 2)))),
        m)[1],
    "parametrized": lambda m: (parametrize.register_parametrization(
        m, "weight", PadKernel(), unsafe=True), m)[1],
    "subclassed": lambda m: _subclass(m),
    "fused": lambda m: (getattr(nni, f"ConvReLU{type(m).__name__[-2:]}")(m, nn.ReLU())
                        if type(m).__name__.startswith("Conv") and "Transpose" not in
                        type(m).__name__ else m),
    "QAT": lambda m: (nnqat.Conv2d.from_float(_with_qconfig(m))
                      if type(m) is nn.Conv2d and m.padding_mode == "zeros" else m),
}


def _subclass(module):
    module.__class__ = type(f"Sub{type(module).__name__}", (Subclassed, type(module)), {})
    return module


def _with_qconfig(module):
    module.qconfig = tq.default_qat_qconfig
    return module


@settings(max_examples=EXAMPLES)
@given(layers(), st.sampled_from(list(WRAPS)), st.booleans())
def test_count_ops_is_profile_total(layer, wrap, training):
    module, shape = layer
    try:  # the plain module's counter, remembered: the wrapped one must not reuse it
        convops.count_ops(module, shape)
    except convops.ConvopsError:
        pass
    module = WRAPS[wrap](module).train(training)
    try:
        counted = convops.count_ops(module, shape)
    except convops.ConvopsError as error:
        if "convolutions, not one" in str(error):  # it ran two: profile counts both
            assert "convops.profile(module, " in str(error)
        return
    mode = "train" if module.training else "eval"
    assert counted == convops.profile(module, shape, mode=mode).total


# -- the probes of the issue --------------------------------------------------------------------
def test_a_parametrization_that_changes_the_kernel_counts_the_kernel_that_runs():
    conv = nn.Conv2d(3, 4, 3)
    parametrize.register_parametrization(conv, "weight", PadKernel(), unsafe=True)
    truth = instrumented(nn.Conv2d(3, 4, 5), (1, 3, 12, 12))
    assert convops.count_ops(conv, (1, 3, 12, 12)) == truth
    assert convops.breakdown(conv, (1, 3, 12, 12)).total == truth
    assert convops.profile(conv, (1, 3, 12, 12)).total == truth


def test_a_forward_hook_that_runs_a_second_convolution_is_not_left_out():
    conv = nn.Conv1d(2, 2, 3)
    convops.count_ops(conv, (1, 2, 10))  # remembered, before the hook
    conv.register_forward_hook(lambda mod, args, out: F.conv1d(out, mod.weight))
    with pytest.raises(convops.ConvopsError, match=r"ran 2 convolutions, not one: "
                       r"convops\.profile\(module, \(1, 2, 10\)\)"):
        convops.count_ops(conv, (1, 2, 10))
    assert convops.profile(conv, (1, 2, 10)).total == (
        instrumented(nn.Conv1d(2, 2, 3), (1, 2, 10))
        + instrumented(nn.Conv1d(2, 2, 3, bias=False), (1, 2, 8)))


def test_a_global_hook_leaves_the_fast_path():
    conv = nn.Conv1d(2, 2, 3)
    plain, truth = convops.count_ops(conv, (1, 2, 10)), instrumented(nn.Conv1d(2, 2, 3), (1, 2, 14))
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda mod, args: (F.pad(args[0], (2, 2)),) if mod is conv else None)
    try:
        assert convops.count_ops(conv, (1, 2, 10)) == truth
    finally:
        handle.remove()
    assert convops.count_ops(conv, (1, 2, 10)) == plain


def test_a_fused_qat_module_counts_the_bias_its_forward_passes():
    from torch.ao.nn.intrinsic.qat import ConvBnReLU2d

    module = ConvBnReLU2d(3, 4, 3, qconfig=tq.default_qat_qconfig)
    truth = instrumented(nn.Conv2d(3, 4, 3, bias=True), (2, 3, 12, 12))
    assert module.bias is None and convops.profile(module, (2, 3, 12, 12), device="cpu",
                                                   mode="train").total == truth
    with pytest.raises(convops.ConvopsError, match="device='cpu'"):  # fake quantization: values
        convops.count_ops(module, (2, 3, 12, 12))


@pytest.mark.parametrize("size", [3, torch.tensor(3), torch.Size([1, 3, 8, 8])])
def test_sizes_accept_integer_likes(size):
    import numpy

    shape = size if isinstance(size, torch.Size) else (numpy.int64(1), size, 8, numpy.int32(8))
    conv = nn.Conv2d(3, 4, 3)
    truth = instrumented(nn.Conv2d(3, 4, 3), (1, 3, 8, 8))
    assert convops.count_ops(conv, shape) == convops.breakdown(conv, shape).total == truth
    assert convops.profile(conv, shape).total == truth
    assert convops.breakdown(conv, shape).input_shape == (1, 3, 8, 8)


@pytest.mark.parametrize("call", ["count_ops", "breakdown", "profile"])
@pytest.mark.parametrize("value", ["no", "yes", 1, 0, None])
def test_backward_accepts_a_bool_only(call, value):
    with pytest.raises(convops.ConvopsError, match=rf"^backward={value!r} must be True or False"):
        getattr(convops, call)(nn.Conv2d(3, 4, 3), (1, 3, 8, 8), backward=value)


def test_a_string_shape_says_to_pass_a_tuple():
    with pytest.raises(convops.ConvopsError, match=r"input '1,3,8,8' is a string: give a shape "
                       r"as a tuple, e\.g\. \(1, 3, 8, 8\)"):
        convops.profile(nn.Conv2d(3, 4, 3), "1,3,8,8")
    with pytest.raises(convops.ConvopsError, match="is a string: give a tuple of ints"):
        convops.count_ops(nn.Conv2d(3, 4, 3), "1,3,8,8")


def test_an_unbatched_reading_says_so():
    with pytest.raises(convops.ConvopsError, match=r"input_shape=\(1, 3, 224\) has 1 channel; "
                       r"in_channels=3 \(read as unbatched, \(C_in, \*spatial\)"):
        convops.count_ops(nn.Conv2d(3, 4, 3), (1, 3, 224))
