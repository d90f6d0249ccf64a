"""Every context a model runs in counts what runs (issue 25), each against an independent count.

The true count of each convolution comes from outside convops' formulas: the instrumented run of
:mod:`convops.reference` (explicit loops over every scalar operation of the convolution, on the
shape it receives), and torch's FlopCounterMode on a real CPU run for the multiplications.
"""

import contextlib
import copy

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.intrinsic.qat as nniqat
import torch.ao.quantization as tq
import torch.nn.functional as F
from torch import nn

import convops
from convops.cli import main
from convops.registry import FORWARD
from test_what_runs import flop_counter_multiplications, instrumented_total as instrumented

# torch's notice that torch.ao.quantization moves to torchao
pytestmark = [pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated"),
              pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor"),
              pytest.mark.filterwarnings("ignore:Please use quant_min and quant_max")]


# -- a float model in every grad mode, autocast and memory format -----------------------------------
class Net(nn.Module):
    """A convolution, a transposed one, and F.conv2d with padding='same' (aten.conv2d.padding)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(4, 2, 3, stride=2)
        self.weight = nn.Parameter(torch.randn(2, 2, 3, 3))

    def forward(self, x):
        return F.conv2d(self.up(torch.relu(self.conv(x))), self.weight, padding="same")


SHAPE = (2, 3, 6, 6)
NET_TRUTH = (instrumented(nn.Conv2d(3, 4, 3, padding=1), SHAPE)
             + instrumented(nn.ConvTranspose2d(4, 2, 3, stride=2), (2, 4, 6, 6))
             + instrumented(nn.Conv2d(2, 2, 3, padding=1, bias=False), (2, 2, 13, 13)))

CONTEXTS = {
    "inference_mode": torch.inference_mode,
    "no_grad": torch.no_grad,
    "enable_grad": torch.enable_grad,
    "autocast bfloat16": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    "channels_last": contextlib.nullcontext,
}


def net_and_input(context: str):
    model, x = Net(), torch.randn(SHAPE)
    if context == "channels_last":
        model, x = (t.to(memory_format=torch.channels_last) for t in (model, x))
    return model, x


@pytest.mark.parametrize("context", CONTEXTS)
def test_profile_counts_every_convolution_in_every_context(context):
    model, x = net_and_input(context)
    with CONTEXTS[context]():
        counts = [convops.profile(model, SHAPE).total, convops.profile(model, x).total,
                  convops.profile(model, x, device="cpu").total]
        multiplications = convops.profile(model, x).multiplications
        backward = convops.profile(model, x, backward=True)
        plain = convops.profile(model, x)
    assert counts == [NET_TRUTH] * 3
    assert multiplications == flop_counter_multiplications(*net_and_input(context))
    assert backward.backward_total == convops.profile(model, x, backward=True).backward_total > 0
    assert "3 convolution calls;" in str(plain)
    assert not [layer.op for layer in plain.not_counted if "conv" in layer.op]


@pytest.mark.parametrize("context", CONTEXTS)
def test_count_ops_counts_the_same_in_every_context(context):
    model, _ = net_and_input(context)
    with CONTEXTS[context]():
        assert convops.count_ops(model.conv, SHAPE) == instrumented(nn.Conv2d(3, 4, 3, padding=1),
                                                                    SHAPE)
        assert convops.count_ops(model.up, (2, 4, 6, 6)) == instrumented(
            nn.ConvTranspose2d(4, 2, 3, stride=2), (2, 4, 6, 6))


# -- complex: the three real convolutions torch runs ---------------------------------------------
def test_a_complex_convolution_counts_the_three_real_convolutions_torch_runs():
    conv = nn.Conv2d(3, 4, 3, dtype=torch.complex64)
    shape = (1, 3, 8, 8)
    # Gauss's trick: conv(x_r, w_r) + b_r, conv(x_i, w_i), conv(x_r + x_i, w_r + w_i) + b_r + b_i
    truth = 2 * instrumented(nn.Conv2d(3, 4, 3), shape) + instrumented(nn.Conv2d(3, 4, 3,
                                                                                 bias=False), shape)
    x = torch.randn(shape, dtype=torch.complex64)
    for context in (contextlib.nullcontext, torch.inference_mode):
        with context():
            assert convops.profile(conv, shape).total == truth  # a shape: a complex input
            assert convops.profile(conv, x, device="cpu").total == truth
    assert convops.profile(conv, shape).multiplications == flop_counter_multiplications(conv, x)
    assert convops.profile(conv, shape).dtype == torch.complex64
    with pytest.raises(convops.ConvopsError, match="ran 3 convolutions, not one"):
        convops.count_ops(conv, shape)


def test_a_shape_for_a_model_of_mixed_dtypes_says_what_input_it_became():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, dtype=torch.complex64))
    with pytest.raises(convops.ConvopsError, match=r"failed in 1 \(Conv2d\).* An input given as "
                       r"a shape is a tensor of the model's first floating-point or complex "
                       r"parameter's dtype \(float32\)"):
        convops.profile(model, (1, 3, 8, 8))


# -- quantization: eager post-training, QAT, FX, fused modules ----------------------------------
class QNet(nn.Module):
    """Conv-BN-ReLU (fused), a strided convolution and a transposed one, between quant stubs."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1, self.relu1 = nn.BatchNorm2d(4), nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2)
        self.up = nn.ConvTranspose2d(4, 2, 3, stride=2)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(self.quant(x))))
        return self.dequant(self.up(self.conv2(x)))


Q_SHAPE = (2, 3, 8, 8)
FUSED = [["conv1", "bn1", "relu1"]]
# Batch norm folded into conv1 (eval) or run after a convolution with a zero bias (QAT) adds a
# bias to it: its additions are torch's, and counted.
Q_TRUTH = (instrumented(nn.Conv2d(3, 4, 3, padding=1), Q_SHAPE)
           + instrumented(nn.Conv2d(4, 4, 3, stride=2), (2, 4, 8, 8))
           + instrumented(nn.ConvTranspose2d(4, 2, 3, stride=2), (2, 4, 3, 3)))


def calibrated(model, x):
    with torch.no_grad():
        model(x)
    return model


def post_training():
    model = tq.fuse_modules(QNet().eval(), FUSED)
    model.qconfig = tq.default_qconfig  # per tensor: transposed convolutions need it
    return tq.convert(calibrated(tq.prepare(model), torch.randn(Q_SHAPE)))


def qat_prepared():
    model = tq.fuse_modules_qat(QNet().train(), FUSED)
    model.qconfig = tq.default_qat_qconfig
    return tq.prepare_qat(model)


def qat_converted():
    model = qat_prepared()
    calibrated(model, torch.randn(Q_SHAPE))
    return tq.convert(model.eval())


def fx_quantized():
    from torch.ao.quantization import quantize_fx

    x = torch.randn(Q_SHAPE)
    mapping = tq.QConfigMapping().set_global(tq.default_qconfig)
    model = quantize_fx.prepare_fx(QNet().eval(), mapping, (x,))
    return quantize_fx.convert_fx(calibrated(model, x))


QUANTIZED = {"eager post-training": post_training, "QAT converted": qat_converted,
             "FX": fx_quantized}


@pytest.mark.parametrize("how", QUANTIZED)
def test_a_quantized_model_counts_its_integer_convolutions(how):
    model = QUANTIZED[how]()
    x = torch.randn(Q_SHAPE)
    for context in (contextlib.nullcontext, torch.inference_mode, torch.no_grad):
        with context():
            p = convops.profile(model, Q_SHAPE, device="cpu")
        assert p.total == Q_TRUTH
        assert [layer.op.split(".")[0] for layer in p.counted] == ["quantized"] * 3
        assert not [layer.op for layer in p.not_counted if "conv" in layer.op]
    assert convops.profile(model, x, device="cpu").multiplications == flop_counter_multiplications(
        QNet().eval(), x)
    with pytest.raises(convops.ConvopsError, match="device='cpu'"):  # no quantized meta tensors
        convops.profile(model, Q_SHAPE)


def test_a_qat_model_in_training_counts_the_bias_its_fused_forward_adds():
    model = qat_prepared()
    assert convops.profile(model, Q_SHAPE, device="cpu", mode="train").total == Q_TRUTH
    fused = nniqat.ConvBnReLU2d(3, 4, 3, padding=1, qconfig=tq.default_qat_qconfig)
    assert fused.bias is None
    assert convops.profile(fused, Q_SHAPE, device="cpu", mode="train").total == instrumented(
        nn.Conv2d(3, 4, 3, padding=1), Q_SHAPE)


@pytest.mark.parametrize("fused", ["ConvReLU2d", "ConvBn2d", "ConvBnReLU2d"])
def test_fused_float_modules_count_in_count_ops_and_profile(fused):
    conv, bn, relu = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU()
    parts = {"ConvReLU2d": (conv, relu), "ConvBn2d": (conv, bn), "ConvBnReLU2d": (conv, bn, relu)}
    module = getattr(nni, fused)(*parts[fused]).eval()
    truth = instrumented(nn.Conv2d(3, 4, 3, bias=False), (2, 3, 8, 8))
    assert convops.count_ops(module, (2, 3, 8, 8)) == truth
    assert convops.profile(module, (2, 3, 8, 8)).total == truth


def quantized_layer(ndim: int, transposed: bool, relu: bool):
    cls = getattr(nn, f"Conv{'Transpose' if transposed else ''}{ndim}d")
    layers = [tq.QuantStub(), cls(3, 4, 3, stride=2, padding=1), *([nn.ReLU()] if relu else []),
              tq.DeQuantStub()]
    model = nn.Sequential(*layers).eval()
    if relu:
        model = tq.fuse_modules(model, [["1", "2"]])
    model.qconfig = tq.default_qconfig
    shape = (1, 3, *(5,) * ndim)
    return tq.convert(calibrated(tq.prepare(model), torch.randn(shape))), cls, shape


QUANTIZED_LAYERS = [(n, t, r) for n in (1, 2, 3) for t in (False, True) for r in (False, True)
                    if not (t and r)]


@pytest.mark.parametrize("ndim, transposed, relu", QUANTIZED_LAYERS)
def test_each_quantized_convolution_operator(ndim, transposed, relu):
    model, cls, shape = quantized_layer(ndim, transposed, relu)
    p = convops.profile(model, shape, device="cpu")
    (layer,) = p.counted
    assert layer.op.startswith("quantized.conv") and ("relu" in layer.op) == relu
    assert p.total == instrumented(cls(3, 4, 3, stride=2, padding=1), shape)
    ran = [c for c in FORWARD if str(c).startswith(layer.op)]
    assert ran


# -- the CLI ------------------------------------------------------------------------------------
FACTORY = '''
import torch

def complex_conv():
    return torch.nn.Conv2d(3, 4, 3, dtype=torch.complex64)

def net():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
'''


def test_the_cli_counts_a_complex_model_and_names_the_dtype(tmp_path, capsys):
    path = tmp_path / "models.py"
    path.write_text(FACTORY)
    assert main(["profile", f"{path}:complex_conv", "-i", "1,3,8,8", "--json"]) == 0
    import json

    document = json.loads(capsys.readouterr().out)
    truth = 2 * instrumented(nn.Conv2d(3, 4, 3), (1, 3, 8, 8)) + instrumented(
        nn.Conv2d(3, 4, 3, bias=False), (1, 3, 8, 8))
    assert document["totals"]["total"] == truth
    assert main(["profile", f"{path}:net", "-i", "1,3,8,8", "--dtype", "bfloat16"]) == 0
    out = capsys.readouterr().out
    assert "eval mode, bfloat16, on meta tensors: 1 convolution call;" in out
    assert f"{instrumented(nn.Conv2d(3, 4, 3, padding=1), (1, 3, 8, 8)):,} operations" in out


def test_profile_in_inference_mode_keeps_the_model_unchanged():
    model = Net()
    before = copy.deepcopy(model.state_dict())
    with torch.inference_mode():
        convops.profile(model, SHAPE, backward=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# -- the report's words ---------------------------------------------------------------------------
class Blocks(nn.Module):
    """Twelve blocks, each with a projection its forward never calls (as a ViT's out_proj)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(2, 2, 1)
        self.blocks = nn.ModuleList(nn.Module() for _ in range(12))
        for block in self.blocks:
            block.attn = nn.Module()
            block.attn.out_proj = nn.Linear(2, 2)
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        return self.stem(x)


def test_the_report_groups_repeated_paths_that_did_not_run_and_counts_in_the_singular():
    text = str(convops.profile(Blocks(), (1, 2, 4)))
    assert "did not run: 12 × blocks.*.attn.out_proj, head" in text
    assert ": 1 convolution call;" in text
    assert "convolution calls" in str(convops.profile(nn.Sequential(Blocks(), Blocks()),
                                                      (1, 2, 4)))


def test_a_symbolic_profile_in_inference_mode_gives_the_same_formula():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4),
                          nn.ConvTranspose2d(4, 2, 3, stride=2), nn.Conv2d(2, 2, 3, padding="same"))
    outside = convops.profile(model, (1, 3, "H", "W"))
    with torch.inference_mode():
        inside = convops.profile(model, (1, 3, "H", "W"))
    assert inside.total == outside.total
    assert inside.at(H=9, W=7).total == convops.profile(model, (1, 3, 9, 7)).total == (
        instrumented(nn.Conv2d(3, 4, 3, padding=1), (1, 3, 9, 7))
        + instrumented(nn.ConvTranspose2d(4, 2, 3, stride=2), (1, 4, 9, 7))
        + instrumented(nn.Conv2d(2, 2, 3, padding=1), (1, 2, 19, 15)))


class Direct(nn.Module):
    """Calls a quantized operator with the packed weight of ``conv``, a quantized module."""

    def __init__(self, op, conv, accumulate: bool):
        super().__init__()
        self.op, self.conv, self.accumulate = op, conv, accumulate

    def forward(self, qx, qaccum):
        packed, scale = self.conv._packed_params, self.conv.scale
        if self.accumulate:
            return self.op(qx, qaccum, packed, scale, 0)
        return self.op(qx, packed, self.conv.stride, self.conv.padding, self.conv.dilation,
                       self.conv.groups, scale, 0)


@pytest.mark.parametrize("name", ["conv2d_add", "conv2d_add_relu", "conv2d", "conv2d_relu",
                                  "conv3d", "conv3d_relu"])
def test_the_fused_additions_and_the_deprecated_overloads_of_quantized_convolutions(name):
    import torch.ao.nn.quantized as nnq

    ndim = 3 if "3d" in name else 2
    accumulate = "add" in name
    engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = "onednn" if accumulate else engine  # conv2d_add's engine
    try:
        conv = getattr(nnq, f"Conv{ndim}d")(3, 4, 3, stride=2, padding=1)
        op = getattr(torch.ops.quantized, name).default
        shape = (1, 3, *(7,) * ndim)
        qx = torch.quantize_per_tensor(torch.randn(shape), 0.1, 0, torch.quint8)
        qaccum = torch.quantize_per_tensor(torch.randn(1, 4, *(4,) * ndim), 0.1, 0, torch.quint8)
        p = convops.profile(Direct(op, conv, accumulate), qx, qaccum, device="cpu")
    finally:
        torch.backends.quantized.engine = engine
    assert [layer.op for layer in p.counted] == [f"quantized.{name}"] and op in FORWARD
    assert p.total == instrumented(getattr(nn, f"Conv{ndim}d")(3, 4, 3, stride=2, padding=1),
                                   shape)


class Leaf(nn.Module):
    """Calls one of aten.convolution's leaf operators by name."""

    def __init__(self, name):
        super().__init__()
        self.name = name
        # conv_tbc's weight is (kernel, C_in, C_out)
        self.weight = nn.Parameter(torch.randn((3, 3, 4) if name == "conv_tbc" else (4, 3, 3, 3)))
        self.bias = nn.Parameter(torch.randn(4))

    def forward(self, x):
        if self.name == "conv_tbc":  # x: (time, batch, channels); padding 1
            return torch.conv_tbc(x, self.weight, self.bias, 1)
        op = torch.ops.aten._convolution
        rest = ([2, 2], [1, 1], [1, 1], False, [0, 0], 1, False, False, True)
        if self.name == "_convolution.deprecated":
            return op.deprecated(x, self.weight, self.bias, *rest)
        return op.default(x, self.weight, self.bias, *rest, True)


@pytest.mark.parametrize("name", ["_convolution", "_convolution.deprecated", "conv_tbc"])
def test_the_leaf_operators_a_model_may_call_by_name(name):
    tbc = name == "conv_tbc"
    shape = (10, 2, 3) if tbc else (2, 3, 9, 9)
    truth = (instrumented(nn.Conv1d(3, 4, 3, padding=1), (2, 3, 10)) if tbc else
             instrumented(nn.Conv2d(3, 4, 3, stride=2, padding=1), shape))
    for device in (None, "cpu"):
        p = convops.profile(Leaf(name), shape, device=device)
        assert p.total == truth and [layer.op for layer in p.counted] == [
            f"aten.{name.split('.')[0]}"]
    if not tbc:  # FlopCounterMode has no formula for conv_tbc
        assert p.multiplications == flop_counter_multiplications(Leaf(name), torch.randn(shape))
