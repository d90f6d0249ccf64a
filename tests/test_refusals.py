"""Whatever torch refuses, convops refuses with a ValueError; whatever torch runs, convops counts."""

import warnings

import pytest
import torch
from hypothesis import event, given, settings, strategies as st

import convops

from configs import KIND_NAMES



@st.composite
def anything(draw):
    """Layers and inputs where each parameter is now and then invalid, in every way we know."""
    name = draw(st.sampled_from(KIND_NAMES))
    ndim = int(name[-2])

    def value(valid, invalid):
        # One parameter in eight is drawn from the invalid range, so a third of the cases run.
        return draw(invalid if draw(st.integers(0, 7)) == 0 else valid)

    def per_dim(valid, invalid):
        one = lambda: value(valid, invalid)  # noqa: E731
        return one() if draw(st.booleans()) else tuple(one() for _ in range(ndim))

    groups = value(st.integers(1, 2), st.sampled_from([0, 3, -1]))
    kwargs = dict(
        stride=per_dim(st.integers(1, 3), st.sampled_from([0, -1])),
        dilation=per_dim(st.integers(1, 2), st.sampled_from([0, -2])),
        groups=groups, bias=draw(st.booleans()),
        padding=value(st.one_of(st.sampled_from(["same", "valid", 0, 1]),
                                st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim).map(tuple)),
                      st.sampled_from([-1, "full", (1,) * (ndim + 1), 9])),
        padding_mode=value(st.just("zeros"), st.sampled_from(["reflect", "replicate", "circular",
                                                              "mirror"])),
    )
    if name.startswith("ConvTranspose"):
        kwargs["output_padding"] = per_dim(st.just(0), st.integers(-1, 3))
    channels = 2 * abs(groups) or 2
    args = (value(st.just(channels), st.integers(-1, 5)), value(st.just(channels), st.integers(-1, 5)),
            per_dim(st.integers(1, 3), st.sampled_from([0, -1])))
    rank = value(st.sampled_from([ndim + 1, ndim + 2]), st.sampled_from([ndim, ndim + 3]))
    spatial = [value(st.integers(3, 6), st.integers(0, 2)) for _ in range(ndim)]
    leading = [value(st.integers(0, 2), st.just(-1))] if rank >= ndim + 2 else []
    channel = [value(st.just(args[0]), st.integers(0, 5))] if rank >= ndim + 1 else []
    extra = [2] * max(rank - ndim - 2, 0)
    return name, args, kwargs, tuple(extra + leading + channel + spatial)


def _torch_verdict(name, args, kwargs, shape):
    """("module", module) if torch refuses to build it, else whether torch runs the input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = getattr(torch.nn, name)(*args, **kwargs)
        except Exception:  # torch's own refusals are ValueError, RuntimeError, TypeError ...
            return None, False, None
        try:
            with torch.no_grad():
                out = module(torch.zeros(shape))
        except Exception:
            return module, False, None
    return module, True, out


@settings(max_examples=400)
@given(anything())
def test_refuses_what_torch_refuses(case):
    name, args, kwargs, shape = case
    module, runs, out = _torch_verdict(name, args, kwargs, shape)
    event("torch refuses the module" if module is None else "torch refuses the input"
          if not runs else "empty output" if out.numel() == 0 else "torch runs it")
    if module is None:
        with pytest.raises(ValueError):
            convops.Layer.create(name, *args, **kwargs)
        return
    if not runs:
        with pytest.raises(ValueError):
            convops.count_ops(module, shape)
        return
    if out.numel() == 0:  # torch returns an empty output, so does no arithmetic
        try:
            convops.Layer.from_module(module)
        except convops.ConvopsError:  # torch runs some invalid layers (dilation 0) on nothing
            return
        assert convops.count_ops(module, shape) == 0
        assert convops.breakdown(module, shape).output_shape == tuple(out.shape)
        return
    count = convops.count_ops(module, shape)
    assert count > 0
    assert convops.breakdown(module, shape).output_shape == tuple(out.shape)


@pytest.mark.parametrize("make, shape, parameter", [
    (lambda: torch.nn.Conv2d(4, 6, 3, groups=2), (1, 3, 8, 8), "channels"),
    (lambda: torch.nn.Conv2d(4, 6, 3), (4, 8), "input_shape"),
    (lambda: torch.nn.Conv2d(4, 6, 3), (1, 4, 8, 8, 8), "input_shape"),
    (lambda: torch.nn.Conv2d(4, 6, 5), (1, 4, 3, 8), "output size"),
    (lambda: torch.nn.Conv1d(4, 6, 1, padding=4, padding_mode="reflect"), (4, 4), "reflect"),
    (lambda: torch.nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1, padding=9),
     (4, 4), "output size"),
    (lambda: torch.nn.Conv2d(4, 6, 3), (1, 4, 8, 8.0), "input_shape"),
    (lambda: torch.nn.Conv2d(4, 6, 3), (1, 4, 0, 8), "spatial"),
    (lambda: torch.nn.Conv2d(4, 6, 3), (-1, 4, 8, 8), "batch"),
    (lambda: torch.nn.ConvTranspose2d(4, 6, 3), (-2, 4, 8, 8), "batch"),
    (lambda: torch.nn.Conv1d(4, 6, 3), (1, 4, True), "input_shape"),
    (lambda: torch.nn.Conv1d(4, 6, 3), "1, 4, 8", "input_shape"),
    (lambda: torch.nn.Conv1d(4, 6, 3), 8, "input_shape"),
])
def test_refusals_name_the_parameter(make, shape, parameter):
    with pytest.raises(ValueError, match=parameter):
        convops.count_ops(make(), shape)


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(groups=4), "groups=4"),
    (dict(stride=0), "stride"),
    (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(padding=-1), "padding"),
    (dict(padding="same", stride=2), "padding='same'"),
    (dict(padding="full"), "padding='full'"),
    (dict(padding_mode="mirror"), "padding_mode"),
    (dict(dilation=(1, 2, 3)), "dilation"),
    (dict(bias=1), "bias"),
])
def test_layer_refusals_name_the_parameter(kwargs, parameter):
    args = dict(kind="Conv2d", in_channels=6, out_channels=6, kernel_size=3) | kwargs
    with pytest.raises(ValueError, match=parameter.replace("(", r"\(")):
        convops.Layer.create(**args)


def test_transposed_refusals():
    with pytest.raises(ValueError, match="output_padding"):
        convops.Layer.create("ConvTranspose2d", 2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding_mode"):
        convops.Layer.create("ConvTranspose2d", 2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding='same'"):
        convops.count_ops(torch.nn.ConvTranspose1d(2, 2, 3, padding="same"), (2, 5))


def test_not_a_convolution():
    with pytest.raises(ValueError, match="kind"):
        convops.count_ops(torch.nn.Linear(3, 4), (1, 3))
    with pytest.raises(ValueError, match="kind"):
        convops.derive("Conv4d")


def test_lazy_module_before_its_first_run():
    with pytest.raises(ValueError, match="lazy"):
        convops.count_ops(torch.nn.LazyConv2d(4, 3), (1, 3, 8, 8))


def test_an_empty_batch_through_a_transposed_layer_with_an_empty_output_counts_0():
    module = torch.nn.ConvTranspose2d(2, 3, 3, padding=(2, 0))
    out = module(torch.zeros(0, 2, 2, 2))
    assert out.numel() == 0
    b = convops.breakdown(module, (0, 2, 2, 2))
    assert (convops.count_ops(module, (0, 2, 2, 2)), b.total, b.output_shape) == (0, 0, tuple(out.shape))
    with pytest.raises(convops.ConvopsError, match="output size"):  # torch refuses batch 1
        convops.count_ops(module, (1, 2, 2, 2))


def test_a_weight_of_another_shape_is_refused():
    module = torch.nn.Conv2d(4, 6, 3)
    convops.count_ops(module, (1, 4, 8, 8))
    module.weight = torch.nn.Parameter(torch.zeros(6, 4, 5, 5))  # torch would now run a 5x5 kernel
    assert module(torch.zeros(1, 4, 8, 8)).shape[-1] == 4  # not the 6 of kernel_size=(3, 3)
    with pytest.raises(convops.ConvopsError, match=r"weight has shape \(6, 4, 5, 5\)"):
        convops.count_ops(module, (1, 4, 8, 8))
    with pytest.raises(convops.ConvopsError, match="weight"):
        convops.breakdown(module, (1, 4, 8, 8))


def test_a_subclass_with_its_own_forward_is_refused_by_name_as_a_layer():
    class PadsInForward(torch.nn.Conv2d):
        def forward(self, x):
            return super().forward(torch.nn.functional.pad(x, (1, 1, 1, 1)))

    class Plain(torch.nn.Conv2d):
        pass

    with pytest.raises(convops.ConvopsError, match="PadsInForward runs forward defined in"):
        convops.Layer.from_module(PadsInForward(3, 4, 3))
    assert convops.count_ops(Plain(3, 4, 3), (1, 3, 8, 8)) == convops.count_ops(
        torch.nn.Conv2d(3, 4, 3), (1, 3, 8, 8))
    # Subclasses torch ships (a parametrized module) count as their torch class.
    parametrized = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(3, 4, 3))
    assert type(parametrized) is not torch.nn.Conv2d
    assert convops.count_ops(parametrized, (1, 3, 8, 8)) == convops.count_ops(
        torch.nn.Conv2d(3, 4, 3), (1, 3, 8, 8))
