"""The report people read: the module tree, the other views, JSON and the bar chart.

Every count a test expects comes from outside the report: FlopCounterMode's per-module
convolution FLOPs, ``count_ops`` of the module that ran, or the model's own parameters.
"""

import json
import subprocess
import sys

import pytest
import sympy as sp
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convops
from convops import ConvopsError
from convops.report import units
from convops.symbols import latex
from convops_book.models import UNet, resnet50

SHAPE = (1, 3, 224, 224)


@pytest.fixture(scope="module")
def resnet():
    with torch.device("meta"):
        model = resnet50().eval()
    return model, convops.profile(model, SHAPE)


def _flop_counter_multiplications(model, shape) -> dict[str, int]:
    """FlopCounterMode's convolution FLOPs / 2 per module, keyed by path (the model's is "")."""
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(shape, device="meta"))
    root = type(model).__name__
    return {name.removeprefix(root).removeprefix("."): counts[torch.ops.aten.convolution] // 2
            for name, counts in counter.get_flop_counts().items()
            if torch.ops.aten.convolution in counts and name != "Global"}


def test_resnet50_prints_a_tree_of_40_lines_of_120_characters(resnet):
    model, profile = resnet
    text = str(profile)
    lines = text.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 120
    assert lines[0].split() == ["module", "kind", "output", "shape", "params", "MACs",
                                "operations", "%", "of", "conv", "ops"]
    rows = {line.split()[0]: line for line in lines[2:] if line.startswith(("(model)", " "))}
    # the tree: the stages under the model, the blocks under the stages, indented by depth
    assert list(rows)[:4] == ["(model)", "conv1", "layer1", "layer1.0"]
    assert rows["layer1.0"].startswith("    layer1.0") and rows["layer1"].startswith("  layer1")
    # parameters as torchvision gives them (25,557,032), units with 4 significant figures
    assert "25.56M" in rows["(model)"] and "100.0%" in rows["(model)"]
    assert f"{profile.total:,}" in text  # the exact total, in the summary


def test_rows_roll_up_what_flop_counter_mode_sees_per_module(resnet):
    model, profile = resnet
    theirs = _flop_counter_multiplications(model, SHAPE)
    rows = profile.rows(by="module")
    with_convolutions = [row for row in rows if row["convolutions"]]
    assert {row["path"]: row["multiplications"] for row in with_convolutions} == theirs
    by_path = {row["path"]: row for row in rows}
    for row in rows:
        if row["parent"] is not None:
            assert by_path[row["parent"]]["depth"] == row["depth"] - 1
    children = [row for row in rows if row["parent"] == "layer2"]
    assert sum(row["total"] for row in children) == by_path["layer2"]["total"]
    assert by_path["layer2"]["parameters"] == sum(p.numel() for p in model.layer2.parameters())


def test_shares_are_of_the_counted_convolutions(resnet):
    _, profile = resnet
    line = next(line for line in str(profile).splitlines() if line.startswith("  layer3 "))
    layer3 = profile.formula("total", module="layer3")
    assert line.split()[-1] == f"{100 * layer3 / profile.total:.1f}%"


def test_footer_lists_what_computes_and_was_not_counted(resnet):
    model, profile = resnet
    footer = str(profile).split("\n\n")[1]
    batch_norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    blocks = len(model.layer1) + len(model.layer2) + len(model.layer3) + len(model.layer4)
    assert f"{batch_norms} × native_batch_norm" in footer
    assert f"{1 + 3 * blocks} × relu_" in footer and f"{blocks} × add," in footer
    assert "1 × addmm" in footer
    assert "empty" not in footer and "view" not in footer  # no arithmetic: no entry
    assert any(layer.op == "aten.empty" for layer in profile.layers)  # though it ran


def test_backward_column_and_no_profiler_ops_in_the_footer():
    with torch.device("meta"):
        model = UNet(width=4, depth=2)
    profile = convops.profile(model, (2, 3, 32, 32), backward=True)
    text = str(profile)
    header = text.splitlines()[0].split()
    assert header[-1] == "backward"
    root = text.splitlines()[2]
    from convops.report import units as fmt
    assert root.split()[-1] == fmt(profile.backward_total)
    footer = text.split("\n\n")[1]
    assert "backward, not counted:" in footer
    for internal in ("copy_", "detach", "empty_like", "new_empty_strided", "expand", "ones_like"):
        assert f"× {internal}," not in footer and not footer.rstrip().endswith(internal)


class _SharedHead(nn.Module):
    """One head applied to two feature maps (as detection necks do), and a tied weight."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 8, 1)
        self.tied = nn.Conv2d(8, 8, 1, bias=False)
        self.tied.weight = self.head.weight

    def forward(self, x):
        x = self.stem(x)
        return [self.head(x), self.head(self.down(x)), self.tied(x)]


def test_a_module_called_twice_is_one_row_and_tied_weights_count_once():
    model, shape = _SharedHead(), (1, 3, 16, 16)
    profile = convops.profile(model, shape)
    row = next(row for row in profile.rows(by="module") if row["path"] == "head")
    assert row["calls"] == 2 and row["output_shape"] == (1, 8, 16, 16)  # the first call's
    assert row["total"] == (convops.count_ops(model.head, (1, 8, 16, 16))
                            + convops.count_ops(model.head, (1, 8, 8, 8)))
    assert "Conv2d ×2" in str(profile)
    root = profile.rows(by="module")[0]
    by_hand = (8 * 3 * 9 + 8) + (8 * 8 * 9 + 8) + (8 * 8 + 8)  # stem, down, head (= tied's weight)
    assert root["parameters"] == by_hand


def test_units():
    assert [units(v) for v in (0, 999, 1000, 1234, 99_995, 25_557_032, 4_089_184_256,
                               10**15, -2500)] == \
        ["0", "999", "1.000K", "1.234K", "100.0K", "25.56M", "4.089G", "1.000P", "-2.500K"]


def test_views_of_the_same_profile(resnet):
    _, profile = resnet
    calls = profile.table(by="call", units=False)
    counted = profile.counted
    assert len(calls.splitlines()) == 2 + len(counted) + len(str(profile).split("\n\n")[1]
                                                            .splitlines()) + 1
    assert all(f"{layer.total:,}" in calls for layer in counted)
    everything = profile.table(by="call", ops="all")
    assert "aten.relu_" in everything and "aten.empty" not in everything
    assert len(profile.table(depth=1).splitlines()) < len(str(profile).splitlines())
    assert profile.table(depth=0).splitlines()[3] == ""  # the model alone
    full = profile.table(ops="all", depth=3)
    assert "bn1" in full and "fc" in full
    assert len(profile.rows()) == len(profile.layers)  # by call, as before
    line = repr(profile)
    assert "\n" not in line and len(line) < 160 and f"{profile.total:,}" in line
    page = profile._repr_html_()
    shown = [r for r in profile.rows(by="module")
             if r["convolutions"] and r["depth"] <= profile.default_depth()]
    assert page.count("<tr>") == 1 + len(shown) and "layer4.2" in page


@pytest.mark.parametrize("call", [
    lambda p: p.table(by="layer"), lambda p: p.table(ops="some"), lambda p: p.table(depth=-1),
    lambda p: p.rows(by="op"), lambda p: p.formula("flops"), lambda p: p.formula(module="nope"),
    lambda p: p.formula("backward_total"), lambda p: p.plot_modules(depth=7),
])
def test_refused_requests(resnet, call):
    with pytest.raises(ConvopsError):
        call(resnet[1])


def test_json_document(resnet):
    _, profile = resnet
    document = json.loads(profile.to_json())
    assert list(document) == ["model", "inputs", "mode", "totals", "modules", "calls",
                              "not_counted"]
    assert document["model"] == "ResNet" and document["mode"] == "eval"
    totals = document["totals"]
    assert totals["total"] == profile.total and type(totals["total"]) is int
    assert totals["flops"] == 2 * totals["macs"] == 2 * profile.multiplications
    assert totals["backward_total"] is None
    assert len(document["calls"]) == len(profile.layers)
    assert [m["path"] for m in document["modules"]] == [r["path"] for r in
                                                        profile.rows(by="module")]
    module = document["modules"][1]
    assert set(module) >= {"path", "kind", "depth", "parent", "calls", "output_shape",
                           "parameters", "multiplications", "additions", "total"}
    assert {"op": "aten.native_batch_norm", "calls": 53, "pass": "forward"} in \
        document["not_counted"]


def test_symbolic_profile_prints_in_160_characters_with_formulas_whole_on_request(resnet):
    model, numeric = resnet
    with torch.device("meta"):
        model = resnet50().eval()
    profile = convops.profile(model, (1, 3, "H", "W"))
    lines = str(profile).splitlines()
    assert max(map(len, lines)) <= 160 and len(lines) <= 40
    assert "⌊(H - 1)/4⌋" in str(profile)  # sizes as torch writes them, floors as people do
    H, W = profile.symbols
    layer3 = profile.formula("total", module="layer3")
    assert layer3.subs({H: 224, W: 224}) == numeric.formula("total", module="layer3")
    assert profile.latex(module="layer3") != profile.latex()
    from convops.symbolic import readable
    # one region, which holds at every size: its formula, no cases
    first = profile.regions[0].formula("total", module="layer3")
    assert profile.regions[0].condition is sp.true
    assert profile.latex("total", "layer3") == latex(readable(first))
    document = json.loads(profile.to_json())
    total = sp.sympify(document["totals"]["total"], locals={"H": H, "W": W})
    assert total.subs({H: 224, W: 224}) == numeric.total
    assert document["totals"]["latex"]["total"] == profile.latex()
    assert "latex" in document["modules"][0]


def test_plot_modules_draws_each_module_beside_its_backward():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    model, shape = _SharedHead(), (2, 3, 16, 16)
    profile = convops.profile(model, shape, backward=True)
    ax = profile.plot_modules(depth=1)
    forward, backward = ax.containers
    rows = [row for row in profile.rows(by="module") if row["depth"] == 1]
    assert [bar.get_height() for bar in forward] == [row["total"] for row in rows]
    assert [bar.get_height() for bar in backward] == [row["backward_total"] for row in rows]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stem", "head", "down", "tied"]


def test_plot_modules_names_matplotlib_when_it_is_missing(monkeypatch, resnet):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ConvopsError, match="pip install matplotlib"):
        resnet[1].plot_modules()


def test_the_library_imports_and_profiles_without_matplotlib():
    code = ("import sys; sys.modules['matplotlib'] = None; import torch, convops; "
            "p = convops.profile(torch.nn.Conv1d(2, 4, 3), (1, 2, 10)); "
            "print(p.total, p.to_json()[:1], str(p)[:6])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["384", "{", "module"]


class _WithAuxiliary(nn.Module):
    """An auxiliary head that runs only in training, as GoogLeNet's."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3)
        self.aux = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())

    def forward(self, x):
        x = self.body(x)
        return (x, self.aux(x)) if self.training else x


def test_footer_names_the_modules_that_did_not_run():
    model = _WithAuxiliary()
    footer = str(convops.profile(model, (2, 3, 8, 8), mode="eval")).split("\n\n")[1]
    assert "did not run: aux.0, aux.1" in footer
    footer = str(convops.profile(model, (2, 3, 8, 8), mode="train")).split("\n\n")[1]
    assert "did not run" not in footer and "train mode" in footer
