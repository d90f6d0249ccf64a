"""The command line: counts, formulas, and refusals (exit code 2, no traceback)."""

import json
import subprocess
import sys

import pytest
import torch

import convops
from convops import ConvopsError
from convops.cli import main, parse_shape

SPEC = "Conv2d(3, 64, kernel_size=7, stride=2, padding=3)"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_count_prints_the_breakdown_and_conventions(capsys):
    code, out, _ = run(capsys, "count", SPEC, "--input", "1,3,224,224")
    b = convops.breakdown(torch.nn.Conv2d(3, 64, 7, stride=2, padding=3), (1, 3, 224, 224))
    assert code == 0
    for figure in (b.total, b.psi, b.lam, b.gamma, b.multiplications, b.additions, 2 * b.macs):
        assert f"{figure:,}" in out
    assert "MACs" in out and "FLOPs" in out


def test_count_json_matches_the_api(capsys):
    code, out, _ = run(capsys, "count", "nn.ConvTranspose2d(16, 8, 4, 2, 1, 1)", "-i", "(16, 32, 32)",
                       "--json")
    module = torch.nn.ConvTranspose2d(16, 8, 4, 2, 1, 1)
    report = json.loads(out)
    assert code == 0
    assert report["total"] == convops.count_ops(module, (16, 32, 32))
    assert report["output_shape"] == list(module(torch.zeros(16, 32, 32)).shape)
    assert report["flops"] == convops.reference.flop_counter_flops(module, (16, 32, 32))


@pytest.mark.parametrize("spec", [
    "Conv1d(2, 4, 3, 2, 1, 1, 2, False, 'reflect')",
    "torch.nn.ConvTranspose3d(2, 4, (1, 2, 3), stride=[1, 2, 1], output_padding=(0, 1, 0))",
    "ConvTranspose1d(4, 4, 3, 2, 1, 1, 2, True, 2)",  # torch's positional order differs here
    "Conv2d(3, 8, 3, padding='same', device='cpu')",
])
def test_layer_parse_binds_like_torch(spec):
    torch_module = eval(spec.replace("torch.nn.", "").replace("Conv", "torch.nn.Conv"))
    assert convops.Layer.parse(spec) == convops.Layer.from_module(torch_module)


@pytest.mark.parametrize("spec", [
    "__import__('os').system('true')", "Conv2d(3, 8, x)", "Conv2d(*args)", "Conv2d(3, 8, **kw)",
    "Linear(3, 8)", "os.Conv2d(3, 8, 3)", "Conv2d(3, 8, 3)(x)", "Conv2d(3, 8, 3,", "Conv2d(3, 8, 3, z=1)",
    "Conv2d(3, 8, {1: 2})", "Conv2d(3, 8, 3, bias=None)",
])
def test_refused_specs(spec, capsys):
    with pytest.raises(ConvopsError):
        convops.Layer.parse(spec)
    code, _, err = run(capsys, "count", spec, "--input", "1,3,8,8")
    assert code == 2 and "error" in err and "Traceback" not in err


def test_bad_parameters_give_the_api_message(capsys):
    with pytest.raises(ValueError) as api:
        convops.Layer.create("Conv2d", 3, 8, 3, groups=2)
    code, _, err = run(capsys, "count", "Conv2d(3, 8, 3, groups=2)", "--input", "1,3,8,8")
    assert code == 2 and str(api.value) in err and "Traceback" not in err
    code, _, err = run(capsys, "count", "Conv2d(3, 8, 3)", "--input", "1,4,8,8")
    assert code == 2 and "in_channels=3" in err


def test_parse_shape():
    assert parse_shape("1,3,224,224") == parse_shape("(1, 3, 224, 224)") == (1, 3, 224, 224)
    with pytest.raises(ConvopsError):
        parse_shape("1,3,a")


@pytest.mark.parametrize("bias,wanted", [(None, ["total_bias", "total_no_bias"]),
                                         (True, ["total_bias"]), (False, ["total_no_bias"])])
def test_formula_latex_comes_from_the_derivation(capsys, bias, wanted):
    flag = {None: [], True: ["--bias"], False: ["--no-bias"]}[bias]
    code, out, _ = run(capsys, "formula", "ConvTranspose2d", "--latex", *flag)
    d = convops.derive("ConvTranspose2d")
    assert code == 0
    for quantity in wanted + ["A", "P", "Z", "s_reduced", "output_size"]:  # one formula each
        assert d.latex(quantity) in out
    unwanted = {"total_bias", "total_no_bias"} - set(wanted)
    assert all(d.latex(q) not in out for q in unwanted)


def test_formula_plain(capsys):
    code, out, _ = run(capsys, "formula", "Conv1d", "--bias")
    assert code == 0 and "Conv1d_ops" in out or "Conv1dₒₚₛ" in out
    assert "C_in: in_channels" in out and "\\text" not in out


def test_help_and_unknown_kind(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["count", "--help"])
    assert exit_.value.code == 0 and "--input" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["formula", "Conv5d"])
    assert exit_.value.code == 2


def test_subprocess_module_and_refusal():
    ok = subprocess.run([sys.executable, "-m", "convops", "count", SPEC, "--input", "1,3,224,224"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "236,027,904" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "convops", "count", "open('x', 'w')", "-i", "1,2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stdout == ""
