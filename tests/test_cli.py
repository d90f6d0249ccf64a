"""The command line: counts, formulas, and refusals (exit code 2, no traceback)."""

import json
import subprocess
import sys

import pytest
import sympy as sp
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


# -- convops profile --------------------------------------------------------------------------------
FACTORY = '''
import torch
from torch import nn


def build(width=4, num_classes=10):
    """A small network that notes the device it was built on."""
    model = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(width, width, 3, stride=2), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(width, num_classes))
    model.built_on = torch.empty(0).device
    return model


def needs_real_tensors():
    torch.ones(1).item()  # not on meta
    return nn.Conv1d(2, 4, 3)


def not_a_model():
    return 42


def broken():
    raise RuntimeError("the factory itself fails")


class WithAux(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.aux = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1)

    def forward(self, x):
        x = self.body(x)
        return (x, self.aux(x)) if self.training else x
'''


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(FACTORY)
    return path


def _expected_total(width: int, size: int) -> int:
    """count_ops of each convolution the factory's model runs, outside any profile."""
    first = convops.count_ops(torch.nn.Conv2d(3, width, 3, padding=1), (1, 3, size, size))
    second = convops.count_ops(torch.nn.Conv2d(width, width, 3, stride=2), (1, width, size, size))
    return first + second


def test_profile_a_file_path_factory(capsys, factory_file):
    code, out, err = run(capsys, "profile", f"{factory_file}:build", "--input", "1,3,16,16",
                         "--kwargs", '{"width": 6}')
    assert code == 0 and err == ""
    assert f"{_expected_total(6, 16):,} operations" in out
    assert out.splitlines()[0].split()[:2] == ["module", "kind"] and "not counted: " in out


def test_profile_json_and_depth(capsys, factory_file):
    code, out, _ = run(capsys, "profile", f"{factory_file}:build", "-i", "2,3,8,8", "--json")
    document = json.loads(out)
    assert code == 0 and document["totals"]["total"] == 2 * _expected_total(4, 8)
    assert document["inputs"] == "(2, 3, 8, 8)" and document["mode"] == "eval"
    code, out, _ = run(capsys, "profile", f"{factory_file}:build", "-i", "1,3,8,8", "--depth", "0")
    assert code == 0 and out.split("\n\n")[0].count("\n") == 2  # header, rule, the model


def test_profile_symbolic_sizes_print_formulas(capsys, factory_file):
    code, out, _ = run(capsys, "profile", f"{factory_file}:build", "-i", "1,3,H,W")
    total = out.split("total = ")[1]
    assert code == 0 and "  if H ≥ " in total and total.rstrip().endswith("not traced  otherwise")
    assert not any(name in out for name in ("Piecewise(", "Ne(", "floor(", "nan"))
    code, out, _ = run(capsys, "profile", f"{factory_file}:build", "-i", "1,3,H,W", "--json")
    H, W = sp.symbols("H W", integer=True, positive=True)
    formula = sp.sympify(json.loads(out)["totals"]["total"], locals={"H": H, "W": W})
    assert formula.subs({H: 16, W: 16}) == _expected_total(4, 16)


def test_profile_builds_on_meta_where_the_factory_allows(factory_file):
    from convops.cli import build_model

    model = build_model(f"{factory_file}:build")
    assert all(p.is_meta for p in model.parameters()) and model.built_on.type == "meta"
    assert not build_model(f"{factory_file}:needs_real_tensors").weight.is_meta


def test_profile_backward_and_dtype(capsys, factory_file):
    code, out, _ = run(capsys, "profile", f"{factory_file}:build", "-i", "2,3,8,8", "--backward",
                       "--dtype", "float64", "--json")
    document = json.loads(out)
    assert code == 0 and document["totals"]["backward_total"] > 0


def test_profile_mode_train_runs_the_training_branches(capsys, factory_file):
    body = convops.count_ops(torch.nn.Conv2d(3, 4, 3), (2, 3, 8, 8))
    aux = convops.count_ops(torch.nn.Conv2d(4, 2, 1), (2, 4, 6, 6))
    totals = {}
    for mode in ("eval", "train"):
        code, out, _ = run(capsys, "profile", f"{factory_file}:WithAux", "-i", "2,3,8,8",
                           "--mode", mode, "--json")
        assert code == 0 and json.loads(out)["mode"] == mode
        totals[mode] = json.loads(out)["totals"]["total"]
    assert totals == {"eval": body, "train": body + aux}


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"convops {version('convops')}"


@pytest.mark.parametrize("argv", [
    ["nonsense"], ["no_such_package_xyz:build"], ["{dir}/missing.py:build"],
    ["{file}:nothing_here"], ["{file}:not_a_model"], ["{file}:broken"], ["{file}:build x"],
    ["{file}:build", "--kwargs", "{width: 3}"], ["{file}:build", "--kwargs", "[3]"],
    ["{file}:build", "--kwargs", '{"depth": 3}'],
    ["{file}:build", "--input", "1,3,-8,8"], ["{file}:build", "--input", "1,3,8.5,8"],
    ["{file}:build", "--dtype", "float128"], ["{file}:build", "--dtype", "Size"],
    ["{file}:build", "--depth", "-1"], ["{file}:build", "--input", "1,3,H,W", "--backward"],
    ["{file}:build", "--dtype", "int64"],
])
def test_profile_refusals_exit_2_with_a_message(capsys, factory_file, argv):
    argv = [a.replace("{file}", str(factory_file)).replace("{dir}", str(factory_file.parent))
            for a in argv]
    if "--input" not in argv:
        argv += ["--input", "1,3,8,8"]
    code, out, err = run(capsys, "profile", *argv)
    assert code == 2 and out == "" and err.startswith("convops profile: error: ")
    assert "Traceback" not in err


def test_profile_in_a_subprocess(factory_file):
    done = subprocess.run([sys.executable, "-m", "convops", "profile", f"{factory_file}:build",
                           "--input", "1,3,16,16"], capture_output=True, text=True)
    assert done.returncode == 0 and f"{_expected_total(4, 16):,} operations" in done.stdout
    assert done.stderr == ""
