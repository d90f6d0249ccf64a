"""What runs is what is counted, or a ConvopsError: the probes of issue 17, one case each.

Every true count comes from outside convops' formulas: the instrumented run of
:mod:`convops.reference` (every scalar operation of the convolution that actually runs, on the
input it actually receives) and torch's FlopCounterMode on the real module (two FLOPs per
multiplication).
"""

import logging
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

import convops
from convops import reference


def instrumented_total(plain: nn.Module, shape) -> int:
    """Operations of the convolution ``plain`` on an input of ``shape``, counted one by one."""
    _, ops = reference.run(plain.double(), torch.randn(shape, dtype=torch.float64))
    return ops.multiplications + ops.additions


def flop_counter_multiplications(model: nn.Module, *inputs, train: bool = False) -> int:
    """FlopCounterMode on a real CPU run of ``model`` (its convolutions' FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    model.train(train)
    with counter, torch.no_grad():
        model(*inputs)
    flops = sum(n for op, n in counter.get_flop_counts()["Global"].items()
                if "convolution" in str(op))
    return flops // 2


# -- modules that run something other than their attributes ---------------------------------
class PadsInConvForward(nn.Conv2d):
    """A subclass whose _conv_forward pads the input by 2 on every side first."""

    def _conv_forward(self, x, weight, bias):
        return super()._conv_forward(F.pad(x, (2, 2, 2, 2)), weight, bias)


def instance_forward():
    conv = nn.Conv1d(2, 4, 3)
    conv.forward = lambda x: F.conv1d(x, conv.weight, conv.bias, stride=2)
    return conv


def padding_pre_hook():
    conv = nn.Conv2d(3, 8, 3)
    conv.register_forward_pre_hook(lambda module, args: F.pad(args[0], (1, 1, 1, 1)))
    return conv


# (module, input shape, the plain convolution that actually runs, the input it receives)
RUNS_ITS_OWN_CODE = {
    "_conv_forward in a subclass": (lambda: PadsInConvForward(3, 8, 3), (1, 3, 12, 12),
                                    lambda: nn.Conv2d(3, 8, 3), (1, 3, 16, 16)),
    "forward set on the instance": (instance_forward, (1, 2, 10),
                                    lambda: nn.Conv1d(2, 4, 3, stride=2), (1, 2, 10)),
    "a forward pre-hook that pads": (padding_pre_hook, (2, 3, 10, 10),
                                     lambda: nn.Conv2d(3, 8, 3), (2, 3, 12, 12)),
}


@pytest.mark.parametrize("probe", RUNS_ITS_OWN_CODE)
def test_count_ops_breakdown_and_profile_count_what_runs(probe):
    build, shape, plain, received = RUNS_ITS_OWN_CODE[probe]
    module = build()
    truth = instrumented_total(plain(), received)
    assert convops.count_ops(module, shape) == truth
    assert convops.count_ops(module, shape) == truth  # the second count, too (nothing cached)
    assert convops.breakdown(module, shape).total == truth
    assert convops.profile(module, shape).total == truth
    assert (convops.breakdown(module, shape).multiplications
            == flop_counter_multiplications(module, torch.zeros(shape)))
    assert convops.count_ops(module, shape, backward=True) == convops.count_ops(
        plain(), received, backward=True)


def test_a_module_whose_own_code_runs_two_convolutions_points_to_profile():
    conv = nn.Conv1d(2, 2, 3, padding=1)
    conv.forward = lambda x: F.conv1d(F.conv1d(x, conv.weight, padding=1), conv.weight, padding=1)
    with pytest.raises(convops.ConvopsError, match=r"ran 2 convolutions, not one: "
                       r"convops.profile\(module, \(1, 2, 8\)\)"):
        convops.count_ops(conv, (1, 2, 8))
    assert convops.profile(conv, (1, 2, 8)).multiplications == flop_counter_multiplications(
        conv, torch.zeros(1, 2, 8))


def test_torch_hooks_and_parametrizations_count_as_their_attributes():
    module = nn.utils.weight_norm(nn.Conv1d(4, 8, 3))
    assert convops.count_ops(module, (1, 4, 20)) == instrumented_total(nn.Conv1d(4, 8, 3),
                                                                       (1, 4, 20)) == 3456
    for wrapped in (nn.utils.spectral_norm(nn.Conv2d(3, 4, 3)),
                    nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3)),
                    nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3))):
        assert convops.count_ops(wrapped, (1, 3, 8, 8)) == instrumented_total(
            nn.Conv2d(3, 4, 3), (1, 3, 8, 8))


# -- refusals: one case per probe, in count_ops and in profile ------------------------------------
def bias_of(size):
    conv = nn.Conv2d(3, 4, 3)
    conv.bias = nn.Parameter(torch.zeros(size))
    return conv


def no_weight():
    conv = nn.Conv2d(3, 4, 3)
    conv.weight = None
    return conv


BAD_MODULES = {
    "bias of the wrong shape": (lambda: bias_of(7), r"bias .*\(7,\)"),
    "bias of two dimensions": (lambda: bias_of((4, 1)), r"bias .*\(4, 1\)"),
    "weight None": (no_weight, "weight"),
}


@pytest.mark.parametrize("probe", BAD_MODULES)
def test_weight_and_bias_torch_refuses_are_refused(probe):
    build, message = BAD_MODULES[probe]
    with pytest.raises(Exception) as torch_refuses:  # what torch itself does with it
        build()(torch.zeros(1, 3, 8, 8))
    assert not isinstance(torch_refuses.value, convops.ConvopsError)
    for count in (convops.count_ops, convops.breakdown, convops.profile):
        with pytest.raises(convops.ConvopsError, match=message):
            count(build(), (1, 3, 8, 8))
    with pytest.raises(convops.ConvopsError, match=message):
        convops.profile(nn.Sequential(nn.ReLU(), build()), (1, 3, 8, 8))


class FunctionalConv(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3)
        self.weight = nn.Parameter(torch.zeros(8, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(8))

    def forward(self, x):
        return F.conv2d(self.first(x), self.weight, self.bias)


class FunctionalBias(FunctionalConv):
    def __init__(self):
        super().__init__(4)
        self.bias = nn.Parameter(torch.zeros(7))


class Reads(nn.Module):
    """Models that read a tensor's value: meta tensors have none."""

    def __init__(self, how):
        super().__init__()
        self.conv, self.how = nn.Conv2d(3, 4, 3), how

    def forward(self, x):
        y = self.conv(x)
        if self.how == "item":
            return y * y.sum().item()
        if self.how == "if":
            return y if y.sum() > 0 else -y
        if self.how == "mask":
            return y[y > 0]
        return y.nonzero()


class HalfModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3)).half()

    def forward(self, x):
        return self.body(x)


META = r"meta tensors, which carry shapes but no values.*device='cpu'"
HUGE = 2 ** 62
# (model, inputs, message) — every one a ConvopsError from profile
PROFILE_REFUSALS = {
    "functional channel mismatch": (lambda: FunctionalConv(5), (1, 3, 8, 8),
                                    r"^\(model\) \(FunctionalConv\): torch refuses this convolution"
                                    r".*expected input\[1, 4, 6, 6\] to have 5 channels, but got 4"),
    "functional bias of 7 for 8 channels (meta accepts it)": (
        FunctionalBias, (1, 3, 8, 8), r"\(model\) \(FunctionalBias\): torch refuses this "
        r"convolution .*bias \(7,\).*expected bias to be 1-dimensional with 8 elements"),
    "wrong channels": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 5, 8, 8),
                       r"0 \(Conv2d\).*expected input\[1, 5, 8, 8\] to have 3 channels"),
    "input smaller than the kernel": (lambda: nn.Sequential(nn.Conv2d(3, 4, 5)), (1, 3, 4, 4),
                                      r"0 \(Conv2d\).*Kernel size can't be greater"),
    "negative size": (lambda: nn.Conv2d(3, 4, 3), (1, 3, -8, 8), r"sizes must be ints ≥ 0"),
    "float size": (lambda: nn.Conv2d(3, 4, 3), (1, 3, 8.5, 8), r"sizes must be ints ≥ 0"),
    ".item()": (lambda: Reads("item"), (1, 3, 8, 8), r"failed in \(model\) \(Reads\).*" + META),
    "data-dependent if": (lambda: Reads("if"), (1, 3, 8, 8), META),
    "boolean mask": (lambda: Reads("mask"), (1, 3, 8, 8), META),
    "nonzero": (lambda: Reads("nonzero"), (1, 3, 8, 8), META),
    "a lambda, not a module": (lambda: (lambda x: x), (1, 3, 8, 8),
                               r"must be a torch.nn.Module, got function"),
    "uninitialised lazy conv": (lambda: nn.Sequential(nn.LazyConv2d(4, 3)), (1, 3, 8, 8),
                                r"^0 \(LazyConv2d\) is lazy and not initialised yet"),
    "half model, float input": (HalfModel, torch.zeros(1, 3, 8, 8),
                                r"body.0 \(Conv2d\).*(type|dtype)"),
    "sizes past int64": (lambda: nn.Conv2d(3, 4, 3), (1, 3, HUGE, HUGE),
                         r"fit in int64; convops.count_ops counts any size"),
    "batch norm in train mode, batch 1": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4)),
        (1, 3, 8, 8), r"failed in 2 \(BatchNorm2d\).*batch ≥ 2, or mode='eval'"),
}


@pytest.mark.parametrize("probe", PROFILE_REFUSALS)
def test_every_refusal_of_profile_is_a_convops_error_naming_where(probe, capfd):
    build, shape, message = PROFILE_REFUSALS[probe]
    mode = "train" if "train mode" in probe else "eval"
    with pytest.raises(convops.ConvopsError, match=message) as refused:
        convops.profile(build(), shape, mode=mode)
    assert "Traceback" not in str(refused.value)
    _, err = capfd.readouterr()
    assert err == ""


COUNT_OPS_REFUSALS = {
    "wrong channels": (lambda: nn.Conv2d(3, 4, 3), (1, 5, 8, 8), r"5 channels; in_channels=3"),
    "input smaller than the kernel": (lambda: nn.Conv2d(3, 4, 5), (1, 3, 4, 4),
                                      r"gives output size \(0, 0\)"),
    "negative size": (lambda: nn.Conv2d(3, 4, 3), (1, 3, -8, 8), r"must be positive"),
    "float size": (lambda: nn.Conv2d(3, 4, 3), (1, 3, 8.5, 8), r"takes 3 ints"),
    "a lambda, not a module": (lambda: (lambda x: x), (1, 3, 8, 8), r"got <class 'function'>"),
    "uninitialised lazy conv": (lambda: nn.LazyConv2d(4, 3), (1, 3, 8, 8),
                                r"lazy and not initialised yet"),
}


@pytest.mark.parametrize("probe", COUNT_OPS_REFUSALS)
def test_count_ops_and_breakdown_refuse_the_same_probes(probe):
    build, shape, message = COUNT_OPS_REFUSALS[probe]
    for count in (convops.count_ops, convops.breakdown):
        with pytest.raises(convops.ConvopsError, match=message):
            count(build(), shape)


def test_count_ops_counts_what_profile_cannot_hold_on_meta():
    conv = nn.Conv2d(3, 4, 3)
    total = convops.count_ops(conv, (1, 3, HUGE, HUGE))
    assert total == convops.count_ops(conv, (1, 3, 10, 10)) // 64 * (HUGE - 2) ** 2


@pytest.mark.parametrize("how", ["item", "if", "mask", "nonzero"])
def test_a_real_run_counts_what_meta_tensors_cannot_run(how):
    model = Reads(how)
    profile = convops.profile(model, (1, 3, 8, 8), device="cpu")
    assert profile.device == torch.device("cpu") and "for real on cpu" in profile.summary()
    assert profile.total == instrumented_total(nn.Conv2d(3, 4, 3), (1, 3, 8, 8))


SYMBOLIC_REFUSALS = {
    "data-dependent if": (lambda: Reads("if"), r"tracing at H=256.*" + META),
    "boolean mask": (lambda: Reads("mask"), r"depends on a tensor's values \(u0: .*" + META),
    # torch's fake tensors log a traceback on stderr for this one unless told not to
    "a Linear that fits one size": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(24, 2)),
        r"tracing at H=256: Sequential failed in 2 \(Linear\): RuntimeError: a and b must have "
        r"same reduction dim.*X \[24, 2\]\. If the model takes only some sizes"),
}


@pytest.mark.parametrize("probe", SYMBOLIC_REFUSALS)
def test_the_symbolic_trace_fails_with_a_convops_error_and_nothing_on_stderr(probe, capfd,
                                                                               caplog):
    build, message = SYMBOLIC_REFUSALS[probe]
    with pytest.raises(convops.ConvopsError, match=message):
        convops.profile(build(), (1, 3, "H", 8))
    _, err = capfd.readouterr()
    assert err == ""
    # under pytest torch's log reaches its capture, not stderr: read it there
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_every_refusal_is_chained_from_torchs_error():
    with pytest.raises(convops.ConvopsError) as refused:
        convops.profile(Reads("item"), (1, 3, 8, 8))
    assert isinstance(refused.value.__cause__, RuntimeError)


# -- modes -----------------------------------------------------------------------------------------
class AuxHead(nn.Module):
    """A training-only branch, as GoogLeNet's auxiliary classifiers."""

    def __init__(self):
        super().__init__()
        self.body, self.aux = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.body(x)
        return (y, self.aux(y)) if self.training else y


def test_mode_defaults_eval_for_the_forward_train_with_backward():
    model, x = AuxHead(), torch.zeros(2, 3, 8, 8)
    eval_truth = flop_counter_multiplications(model, x, train=False)
    train_truth = flop_counter_multiplications(model, x, train=True)
    assert eval_truth < train_truth
    forward = convops.profile(model, (2, 3, 8, 8))
    assert (forward.mode, forward.multiplications) == ("eval", eval_truth)
    assert "eval mode, on meta tensors" in forward.summary()
    trained = convops.profile(model, (2, 3, 8, 8), backward=True)
    assert (trained.mode, trained.multiplications) == ("train", train_truth)
    assert "train mode" in trained.summary()
    assert convops.profile(model, (2, 3, 8, 8), mode="train").multiplications == train_truth
    assert convops.profile(model, (2, 3, 8, 8), backward=True,
                           mode="eval").multiplications == eval_truth
    with pytest.raises(convops.ConvopsError, match="mode='training': give 'eval' or 'train'"):
        convops.profile(model, (2, 3, 8, 8), mode="training")
    assert model.training  # as flop_counter_multiplications left it


class Checkpointed(nn.Module):
    def __init__(self, checkpointed: bool):
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.checkpointed = checkpointed

    def forward(self, x):
        y = self.first(x)
        return checkpoint(self.block, y, use_reentrant=False) if self.checkpointed else self.block(y)


def test_activation_checkpointing_lists_the_recomputed_forward_and_counts_it_once():
    plain = convops.profile(Checkpointed(False), (2, 3, 10, 10), backward=True)
    checkpointed = convops.profile(Checkpointed(True), (2, 3, 10, 10), backward=True)
    assert (checkpointed.total, checkpointed.backward_total) == (plain.total,
                                                                 plain.backward_total)
    assert len(checkpointed.counted) == len(plain.counted) == 3
    recomputed = [row for row in checkpointed.layers if "recomputed" in row.note]
    # torch recomputes until it has what the backward needs: here the block's first convolution
    assert [(row.name, row.counted) for row in recomputed] == [("block.0", False)]
    assert checkpointed.modules["block.0"].calls == 1


def test_state_hooks_set_is_restored():
    for wrap in (nn.utils.weight_norm, nn.utils.spectral_norm):
        model = nn.Sequential(wrap(nn.Conv1d(2, 4, 3)))
        before = model[0].weight
        for mode in ("eval", "train"):
            convops.profile(model, (2, 2, 10), mode=mode)
            assert model[0].weight is before and not model[0].weight.is_meta
        convops.profile(model, (2, 2, 10), backward=True)
        assert model[0].weight is before and not before.is_meta
        assert all(not t.is_meta for t in [*model.parameters(), *model.buffers()])
        assert model.training


def test_the_report_records_model_mode_device_and_modules():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Identity())
    profile = convops.profile(model, (1, 3, 8, 8))
    assert profile.model is model and profile.mode == "eval" and profile.device is None
    assert list(profile.modules) == ["(model)", "0", "1", "2"]
    record = profile.modules["0"]
    assert (record.path, record.kind, record.calls, record.output_shape) == (
        "0", "Conv2d", 1, (1, 4, 6, 6))


# -- the CLI's layer text --------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("Conv2d(3, 8, 3, dtype='float128')", r"dtype='float128'"),
    ("Conv2d(3, 8, 3, dtype='int64')", r"dtype='int64'"),
    ("Conv2d(3, 8, 3, device='gpu')", r"device='gpu'"),
])
def test_layer_text_refuses_what_torch_refuses(text, message):
    with pytest.raises(convops.ConvopsError, match=message):
        convops.Layer.parse(text)
    assert convops.Layer.parse("Conv2d(3, 8, 3, dtype='float16', device='cpu')") == \
        convops.Layer.parse("Conv2d(3, 8, 3)")


def test_an_error_echoes_at_most_200_characters_of_the_text():
    text = "Conv2d(3, 8, " + "1 + " * 200 + "1)"
    with pytest.raises(convops.ConvopsError) as refused:
        convops.Layer.parse(text)
    echoed = max(re.findall(r"'[^']*'?…?", str(refused.value)), key=len)
    assert len(echoed) <= 200 and echoed.endswith("…")


def test_the_cli_count_command_refuses_them_too(capsys):
    from convops.cli import main

    assert main(["count", "Conv2d(3, 8, 3, dtype='float128')", "--input", "1,3,8,8"]) != 0
    assert "dtype='float128'" in capsys.readouterr().err


# -- models people build: frozen branches, scripted and compiled parts --------------------------
def flop_counter_by_module(model: nn.Module, shape) -> dict[str, dict[str, int]]:
    """FlopCounterMode's FLOPs per module and operation, forward and backward, on a real CPU run."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.randn(shape)).sum().backward()
    return {name: {str(op): n for op, n in ops.items()}
            for name, ops in counter.get_flop_counts().items()}


class TwinBranches(nn.Module):
    """Two identical convolutions on the same input; the second one's output is detached, so
    autograd computes no gradient for it."""

    def __init__(self):
        super().__init__()
        self.kept, self.detached = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.kept(x) + self.detached(x).detach()


def test_each_backward_lands_on_the_call_autograd_ran_it_for():
    model, shape = TwinBranches(), (1, 3, 8, 8)
    truth = flop_counter_by_module(model, shape)
    rows = {row.name: row for row in convops.profile(model, shape, backward=True).counted}
    assert rows["detached"].backward is None
    assert "aten.convolution_backward" not in truth["TwinBranches.detached"]
    assert (2 * rows["kept"].backward.multiplications
            == truth["TwinBranches.kept"]["aten.convolution_backward"])


class Scripted(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.jit.script(nn.Conv2d(3, 4, 3))
        self.head = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_scripted_submodule_runs_on_stand_ins_and_gets_its_tensors_back():
    model, shape = Scripted(), (2, 3, 10, 10)
    weights = [model.stem.weight, model.stem.bias]
    profile = convops.profile(model, shape, backward=True)
    truth = flop_counter_by_module(model, shape)["Global"]
    assert 2 * profile.multiplications == truth["aten.convolution"]
    assert 2 * profile.backward_multiplications == truth["aten.convolution_backward"]
    assert [model.stem.weight, model.stem.bias] == weights
    assert not any(t.is_meta for t in model.parameters())


def test_compiled_models_are_counted_as_they_compute_with_nothing_on_stderr(tmp_path):
    # in a process of its own: Dynamo, once imported, stays for the rest of the session
    script = tmp_path / "compiled.py"
    script.write_text(
        "import torch, convops, warnings\n"
        "from torch import nn\n"
        "from torch.utils.flop_counter import FlopCounterMode\n"
        "warnings.simplefilter('error')\n"
        "net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))\n"
        "compiled = torch.compile(net, backend='eager')\n"
        "for size in range(8, 20):  # past Dynamo's recompile limit of 8\n"
        "    counter = FlopCounterMode(display=False)\n"
        "    with counter:\n"
        "        net(torch.zeros(1, 3, size, size))\n"
        "    p = convops.profile(compiled, (1, 3, size, size))\n"
        "    assert 2 * p.multiplications == counter.get_total_flops(), size\n"
        "net[2] = torch.compile(net[2], backend='eager')\n"
        "p = convops.profile(net, (2, 3, 9, 9), backward=True)\n"
        "assert [row.backward.gradients for row in p.counted] == [('weight', 'bias'),\n"
        "    ('input', 'weight', 'bias')]\n"
        "print('ok')\n")
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_convolution_refused_inside_torchscript_keeps_its_reason():
    # TorchScript re-raises an error from the capture as a RuntimeError with an empty message
    with pytest.raises(convops.ConvopsError, match=r"stem \(RecursiveScriptModule\): torch "
                       r"refuses .* expected input\[2, 4, 10, 10\] to have 3 channels"):
        convops.profile(Scripted(), (2, 4, 10, 10))
