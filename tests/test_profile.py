"""Whole models: every convolution the forward runs counted on its own input, nothing dropped.

Each model here is checked against torch's FlopCounterMode (two FLOPs per multiplication) and,
call by call, against an instrumented execution or a module that computes the same convolution.
"""

import math

import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import nn

import convops
from convops import reference
from convops_book.models import ResNet, UNet, resnet50
from convops.profiling import count_call, rows


def flop_counter_multiplications(model, *inputs, **kw_inputs) -> int:
    """FlopCounterMode's convolution FLOPs / 2 (two per multiplication)."""
    flops = reference.flop_counter_convolution_flops(model, *inputs, **kw_inputs)
    assert flops % 2 == 0
    return flops // 2


def _check_layer_by_layer(model, shape):
    profile = convops.profile(model, shape)
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, a, o: inputs.setdefault(m, []).append(a[0].shape))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for h in hooks:
        h.remove()
    modules = dict(model.named_modules())
    for layer in profile.counted:
        shape_in = tuple(inputs[modules[layer.name]].pop(0))
        assert layer.input_shape == shape_in
        assert layer.total == convops.count_ops(modules[layer.name], shape_in)
    assert not any(inputs.values())  # every call of every convolution was counted
    return profile


def test_unet_layer_by_layer_and_flop_counter():
    model, shape = UNet(width=4, depth=2), (2, 3, 16, 16)
    profile = _check_layer_by_layer(model, shape)
    assert {layer.kind for layer in profile.counted} == {"Conv2d", "ConvTranspose2d"}
    assert profile.multiplications == flop_counter_multiplications(model, shape)
    assert profile.total == profile.multiplications + profile.additions


def test_resnet50_shape_and_counts():
    with torch.device("meta"):
        model = resnet50()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # torchvision's count
    profile = convops.profile(model, (1, 3, 224, 224))
    assert len(profile.counted) == 53
    assert profile.macs == 4_087_136_256  # conv MACs; torchvision's 4.09 G adds the fc layer
    assert profile.macs == flop_counter_multiplications(model, (1, 3, 224, 224))
    not_counted = {layer.kind for layer in profile.not_counted}
    assert {"BatchNorm2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"} <= not_counted
    assert {"aten.addmm", "aten.relu_"} <= {layer.op for layer in profile.not_counted}
    assert all(layer.note for layer in profile.not_counted)


def test_small_resnet_against_real_run():
    _check_layer_by_layer(ResNet((1, 1, 1, 1), num_classes=10), (1, 3, 32, 32))


class _Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(2, 4, 3))  # has children
        self.shared = nn.ConvTranspose1d(4, 4, 2, stride=2)
        self.unused = nn.Linear(3, 3)
        self.act = nn.GELU()

    def forward(self, x):
        return self.shared(self.act(self.shared(self.conv(x))))


def test_repeated_parametrized_unbatched_and_unused_layers():
    model, shape = _Mixed(), (2, 10)  # unbatched: torch runs the convolution on (1, 2, 10)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    profile = convops.profile(model, shape)
    assert [layer.name for layer in profile.counted] == ["conv", "shared", "shared"]
    assert profile.counted[0].total == convops.count_ops(model.conv, shape)
    assert profile.counted[2].input_shape == (1, 4, 16)
    assert profile.layers[-1].name == "unused" and "not called" in profile.layers[-1].note
    assert "conv.parametrizations.weight.0" in {layer.name for layer in profile.not_counted}
    assert profile.multiplications == flop_counter_multiplications(model, shape)
    assert all(p.device.type == "cpu" for p in model.parameters())  # the model is unchanged
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert model.training and all(m.training for m in model.modules())


def test_rendering():
    profile = convops.profile(UNet(width=2, depth=1), (1, 3, 8, 8))
    text, page = str(profile), profile._repr_html_()
    assert f"{profile.total:,}" in text and f"{profile.total:,}" in page
    assert "native_batch_norm" in text and "<table" in page and "not counted" in page
    rows_ = profile.rows()
    assert len(rows_) == len(profile.layers) and rows_[0]["kind"] == "Conv2d"


def test_a_model_that_is_one_convolution():
    layer = nn.Conv2d(3, 4, 3)
    profile = convops.profile(layer, (1, 3, 5, 5))
    assert [l.name for l in profile.layers] == ["(model)"]
    assert profile.total == convops.count_ops(layer, (1, 3, 5, 5))


# -- convolutions that the module's attributes do not describe ------------------------------------
class Conv2dSame(nn.Conv2d):
    """TensorFlow's "same" padding, computed in every call: uneven where it must be."""

    def forward(self, x):
        pads = []
        for size, k, s, d in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                                 reversed(self.stride), reversed(self.dilation)):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)


class PadThenSuper(nn.Conv2d):
    """Pads with a separate op, then runs the parent's forward (its padding attribute is 0)."""

    def forward(self, x):
        return super().forward(F.pad(x, [1, 1, 0, 1]))


class Functional(nn.Module):
    """Convolutions called through torch.nn.functional with the block's own weights."""

    def __init__(self):
        super().__init__()
        self.down = nn.Parameter(torch.randn(6, 6, 3, 3))
        self.up = nn.Parameter(torch.randn(6, 3, 4, 4))  # transposed: (C_in, C_out / g, k)

    def forward(self, x):
        x = F.conv2d(x, self.down, stride=2, padding=1)
        return F.conv_transpose2d(x, self.up, stride=2, padding=1, output_padding=1, groups=2)


class TfStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Conv2dSame(3, 6, 3, stride=2)
        self.block = nn.Sequential(PadThenSuper(6, 4, (2, 3), bias=False), nn.ReLU())
        self.head = Functional()
        self.mix = Conv2dSame(6, 6, 5, dilation=2, groups=3)

    def forward(self, x):
        x = self.stem(x)
        return self.mix(self.head(torch.cat([self.block(x), x[:, :2]], dim=1)))


def _instrumented(layer: convops.Layer, shape):
    """Counts of an instrumented run of the convolution ``layer`` (random weights) on ``shape``."""
    _, counter = reference.run(_module(layer), torch.randn(shape, dtype=torch.float64))
    return counter.multiplications, counter.additions


def _module(layer):
    cls = layer.kind.module
    extra = {"output_padding": layer.output_padding} if layer.kind.transposed else {}
    return cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
               layer.padding, dilation=layer.dilation, groups=layer.groups, bias=layer.bias,
               dtype=torch.float64, **extra)


def test_calls_the_attributes_do_not_describe_are_counted_as_they_run():
    model = TfStyle()
    for size in ((1, 3, 17, 12), (2, 3, 9, 10)):
        profile = convops.profile(model, size)
        assert [(layer.name, layer.kind) for layer in profile.counted] == [
            ("stem", "Conv2d"), ("block.0", "Conv2d"), ("F.conv2d in head", "Conv2d"),
            ("F.conv_transpose2d in head", "ConvTranspose2d"), ("mix", "Conv2d")]
        assert profile.multiplications == flop_counter_multiplications(model, size)
        for layer in profile.counted:  # each call: its own convolution, executed and counted
            assert (layer.multiplications, layer.additions) == _instrumented(
                _LAYERS[layer.name], layer.input_shape)
        pads = [layer for layer in profile.not_counted if layer.op == "aten.constant_pad_nd"]
        assert {layer.name for layer in pads} == {"stem", "block.0", "mix"}


#: What each call of TfStyle computes, written by hand from its code: padding done by F.pad.
_LAYERS = {
    "stem": convops.Layer.create("Conv2d", 3, 6, 3, stride=2),
    "block.0": convops.Layer.create("Conv2d", 6, 4, (2, 3), bias=False),
    "F.conv2d in head": convops.Layer.create("Conv2d", 6, 6, 3, stride=2, padding=1, bias=False),
    "F.conv_transpose2d in head": convops.Layer.create("ConvTranspose2d", 6, 6, 4, stride=2,
                                                       padding=1, output_padding=1, groups=2,
                                                       bias=False),
    "mix": convops.Layer.create("Conv2d", 6, 6, 5, dilation=2, groups=3),
}


# -- inputs: several, nested, keyword --------------------------------------------------------------
class TwoInputs(nn.Module):
    """Optical-flow style: two images through one encoder, then a correlation-like merge."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv2d(3, 4, 3, stride=2)
        self.merge = nn.Conv2d(8, 2, 1)

    def forward(self, first, second):
        return self.merge(torch.cat([self.encoder(first), self.encoder(second)], dim=1))


class DictInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Conv2d(3, 4, 3)
        self.depth = nn.Conv3d(1, 2, (2, 3, 3))

    def forward(self, batch, scale=None):
        out = self.image(batch["image"]).sum() + self.depth(batch["depth"]).sum()
        return out if scale is None else out * scale


class ListInput(nn.Module):
    """Detection style: a list of images of different sizes, each through the same backbone."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 5, stride=2, padding=2)

    def forward(self, images, extra):
        return [self.backbone(image) for image in [*images, *extra[0]]]


@pytest.mark.parametrize("model, args, kwargs", [
    (TwoInputs(), [(1, 3, 16, 20), (1, 3, 16, 20)], {}),
    (DictInput(), [{"image": (2, 3, 8, 9), "depth": (2, 1, 4, 8, 8)}], {"scale": (1,)}),
    (ListInput(), [[(1, 3, 11, 13), (1, 3, 20, 8)]], {"extra": [[(1, 3, 7, 7)]]}),
])
def test_several_nested_and_keyword_inputs(model, args, kwargs):
    profile = convops.profile(model, *args, **kwargs)
    assert profile.counted
    assert profile.multiplications == flop_counter_multiplications(model, *args, **kwargs)
    modules = dict(model.named_modules())
    for layer in profile.counted:
        assert layer.total == convops.count_ops(modules[layer.name], layer.input_shape)


def test_tied_weights_stay_tied_and_the_model_is_restored():
    model = TwoInputs()
    model.merge.weight = nn.Parameter(torch.randn(2, 8, 1, 1))
    shared = nn.Conv2d(3, 4, 3, stride=2)
    shared.weight = model.encoder.weight  # tied
    model.other = shared
    before = {name: (tensor, tensor.clone()) for name, tensor in
              [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]}
    profile = convops.profile(model, (1, 3, 12, 12), (1, 3, 12, 12))
    assert profile.multiplications == flop_counter_multiplications(model, (1, 3, 12, 12),
                                                                   (1, 3, 12, 12))
    after = dict([*model.named_parameters(remove_duplicate=False), *model.named_buffers()])
    assert after.keys() == before.keys()
    assert all(after[name] is tensor and torch.equal(tensor, copy)
               for name, (tensor, copy) in before.items())
    assert model.other.weight is model.encoder.weight


def test_tensors_as_inputs_keep_their_dtype_and_allocate_nothing():
    model = TwoInputs().double()
    first = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    profile = convops.profile(model, first, second=torch.empty(1, 3, 8, 8, device="meta",
                                                               dtype=torch.float64))
    assert profile.multiplications == flop_counter_multiplications(model, (1, 3, 8, 8),
                                                                   (1, 3, 8, 8))
    assert profile.input_shape == (1, 3, 8, 8) and "second=(1, 3, 8, 8)" in profile.inputs


def test_a_call_convops_refuses_is_an_error_naming_the_call_never_a_partial_total():
    from convops.capture import run

    def refuse(layer, shape_in, shape_out):
        raise convops.ConvopsError("refused for the test")

    model = TwoInputs()
    trace = run(model, ((1, 3, 8, 8), (1, 3, 8, 8)), {}, lambda s: torch.empty(s, device="meta"))
    with pytest.raises(convops.ConvopsError, match=r"^encoder \(Conv2d\), aten.convolution on input "
                       r"\(1, 3, 8, 8\): refused for the test"):
        rows(trace.calls, trace.names, refuse)


# -- symbolic sizes: the whole model's count as a formula ------------------------------------
class Kinds(nn.Module):
    """Transposed convolutions whose additions need lattice counts, dilated 3-d, strided chains."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.odd = nn.ConvTranspose2d(4, 2, 5, stride=3, padding=4, dilation=2, groups=2)
        self.volume = nn.Conv3d(1, 2, 3, stride=(1, 2, 2), padding=1, dilation=(1, 2, 1))
        self.line = nn.ConvTranspose1d(2, 2, 4, stride=2, padding=3, output_padding=1)
        self.down = nn.Sequential(nn.Conv2d(3, 3, 3, stride=2), nn.Conv2d(3, 3, 3, stride=3))

    def forward(self, x):
        y = self.odd(self.up(x))
        return (self.volume(y[:, :1].unsqueeze(1)).sum() + self.line(y.flatten(2)[..., :40]).sum()
                + self.down(x).sum())


@pytest.mark.parametrize("model, shape, sizes", [
    (UNet(width=4, depth=2), (1, 3, "H", "W"), [(8, 8), (16, 40), (64, 24)]),
    (ResNet((1, 1, 1, 1), num_classes=10), ("N", 3, "H", "W"),
     [(1, 64, 64), (3, 97, 130), (2, 250, 66)]),
    (Kinds(), (2, 3, "H", "W"), [(11, 13), (12, 31), (40, 17)]),
    (TfStyle(), (1, 3, "H", "W"), [(17, 12), (9, 10), (64, 33)]),
])
def test_symbolic_profile_equals_the_numeric_profile_at_every_size(model, shape, sizes):
    symbolic = convops.profile(model, shape)
    names = [v for v in shape if isinstance(v, str)]
    assert [str(s) for s in symbolic.symbols] == names
    assert symbolic.total.free_symbols <= set(symbolic.symbols)
    for values in sizes:
        at = dict(zip(names, values))
        concrete = tuple(at.get(v, v) if isinstance(v, str) else v for v in shape)
        numeric = convops.profile(model, concrete)
        assert symbolic.at(**at) == numeric  # every row: shapes, breakdowns, notes
        assert symbolic.evaluate(**at) == (numeric.multiplications, numeric.additions,
                                           numeric.total)
        assert symbolic.total.subs(dict(zip(symbolic.symbols, values))) == numeric.total
        assert numeric.multiplications == flop_counter_multiplications(model, concrete)


def test_symbolic_formula_reads_like_torch_and_prints():
    symbolic = convops.profile(ResNet((1, 1, 1, 1), num_classes=10),
                               (1, 3, "H", "W"))
    H, W = symbolic.symbols
    sizes = {str(t.args[0]) for t in symbolic.total.atoms(sympy.floor)}
    assert sizes == {f"{s}/{n} - 1/{n}" for s in "HW" for n in (2, 4, 8, 16, 32)}
    assert r"\left\lfloor" in symbolic.latex() and "H" in symbolic.latex("multiplications")
    assert "formulas in H, W" in symbolic.summary()


def test_sizes_the_model_refuses_are_refused_with_its_reason():
    symbolic = convops.profile(UNet(width=2, depth=2), (1, 3, "H", "W"))
    assert symbolic.at(H=12, W=8).total == convops.profile(UNet(width=2, depth=2),
                                                           (1, 3, 12, 8)).total
    reason = "Sizes of tensors must match"  # the decoder's concatenation needs H divisible by 4
    with pytest.raises(convops.ConvopsError, match=reason):
        convops.profile(UNet(width=2, depth=2), (1, 3, 10, 8))
    with pytest.raises(convops.ConvopsError, match=r"2·⌊H/4⌋ = ⌊H/2⌋ fails.*refuses.*" + reason):
        symbolic.at(H=10, W=8)
    with pytest.raises(convops.ConvopsError, match="give exactly H, W"):
        symbolic.at(H=8)


class FixedHead(nn.Module):
    """A linear head that fits one width only: tracing must fix W."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.head = nn.Linear(2 * 8 * 12, 5)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def test_a_specialised_size_is_reported_with_the_call_that_fixed_it():
    with pytest.raises(convops.ConvopsError, match="failed in head.*'H=224'"):
        convops.profile(FixedHead(), (1, 3, 8, "W"))  # traced at W=256, which the head refuses
    symbolic = convops.profile(FixedHead(), (1, 3, 8, "W=12"))
    (special,) = symbolic.specializations
    assert special.size == "W" and special.value == 12 and "head" in special.where
    assert symbolic.at(W=12).total == convops.profile(FixedHead(), (1, 3, 8, 12)).total
    with pytest.raises(convops.ConvopsError, match="W = 12 fails.*the model refuses them: "
                       r"FixedHead failed in head \(Linear\)"):
        symbolic.at(W=13)


# -- the backward pass --------------------------------------------------------------------------
def _flop_counter_backward_multiplications(model, shape) -> int:
    """FlopCounterMode's FLOPs of the convolutions' backward / 2, on a meta copy of ``model``."""
    from torch.utils.flop_counter import FlopCounterMode

    import copy

    meta = copy.deepcopy(model).to("meta").eval()
    out = meta(torch.empty(shape, device="meta"))
    counter = FlopCounterMode(display=False)
    with counter:
        out.backward(torch.empty_like(out))
    flops = sum(n for op, n in counter.get_flop_counts()["Global"].items()
                if "convolution_backward" in str(op))
    assert flops % 2 == 0
    return flops // 2


class _Trainable(nn.Module):
    """A stem, a frozen block, a reflect-padded conv, a functional conv and an upsampling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.frozen = nn.Conv2d(8, 8, 3, padding=1, bias=False).requires_grad_(False)
        self.reflect = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")
        self.mix = nn.Parameter(torch.zeros(4, 8, 1, 1))
        self.up = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)

    def forward(self, x):
        x = self.reflect(torch.relu(self.frozen(self.stem(x))))
        return self.up(F.conv2d(x, self.mix))


def test_backward_profile_counts_the_gradients_autograd_computes():
    model, shape = _Trainable(), (2, 3, 16, 16)
    profile = convops.profile(model, shape, backward=True)
    counted = {layer.name: layer for layer in profile.counted}
    gradients = {name: layer.backward.gradients for name, layer in counted.items()}
    assert gradients == {"stem": ("weight", "bias"),  # its input needs no gradient
                         "frozen": ("input",),  # its weight is frozen
                         "reflect": ("input", "weight", "bias"),
                         "F.conv2d in (model)": ("input", "weight"),
                         "up": ("input", "weight", "bias")}
    # reflect padding runs as a pad op and then the convolution, unpadded, of the padded input:
    # the pad's backward (folding gradients back) is an op of its own, listed and not counted
    assert counted["reflect"].input_shape == (2, 8, 10, 10)
    modules = {"stem": model.stem, "frozen": model.frozen, "reflect": nn.Conv2d(8, 8, 3),
               "F.conv2d in (model)": nn.Conv2d(8, 4, 1, bias=False), "up": model.up}
    assert any(layer.op == "aten.reflection_pad2d_backward" for layer in profile.not_counted)
    for name, module in modules.items():
        layer = counted[name]
        assert layer.backward == convops.breakdown(module, layer.input_shape, backward=True,
                                                   gradients=gradients[name])
    # FlopCounterMode counts 2 FLOPs per multiplication of grad_input and grad_weight (groups 1)
    assert profile.backward_multiplications == _flop_counter_backward_multiplications(model, shape)
    assert profile.backward_total == sum(layer.backward.total for layer in counted.values())
    assert "backward pass" in profile.summary() and "backward" in profile._repr_html_()


def test_backward_profile_of_an_input_that_requires_grad_and_of_a_symbolic_shape():
    model = nn.Sequential(nn.Conv1d(2, 4, 3))
    x = torch.zeros(1, 2, 10, requires_grad=True)
    assert convops.profile(model, x, backward=True).counted[0].backward.gradients == (
        "input", "weight", "bias")
    assert convops.profile(model, (1, 2, 10), backward=True).counted[0].backward.gradients == (
        "weight", "bias")
    with pytest.raises(convops.ConvopsError, match="concrete shapes"):
        convops.profile(model, (1, 2, "L"), backward=True)
