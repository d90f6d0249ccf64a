"""The registry of the convolution family covers every operator torch names a convolution.

Every dispatcher operator whose name contains "conv" is registered (counted), decomposes to a
registered one (a composite, run here under the capture in inference mode, where torch leaves it
whole), is refused by name with a reason (a convolution convops does not count: the capture
raises), or is listed as no convolution's arithmetic.  Removing any registered operator makes
the classification fail.
"""

import pytest
import torch
import torch.ao.nn.quantized  # noqa: F401  (the quantized operators' Python side)
import torch.ao.quantization.fx._decomposed  # noqa: F401  (operators FX quantization defines)
from torch import nn

import convops
from convops import capture, registry
from convops.capture import Capture, run

meta = dict(device="meta")


def conv_operators() -> list:
    """Every overload of every dispatcher operator named like a convolution."""
    found = []
    for name in sorted(torch._C._dispatch_get_all_op_names()):
        if "conv" not in name.lower():
            continue
        namespace, _, rest = name.partition("::")
        op, _, overload = rest.partition(".")
        found.append(getattr(getattr(getattr(torch.ops, namespace), op), overload or "default"))
    return found


#: One call of each composite convolution operator, on meta tensors (input, weight, rest).
x1, x2, x3 = (torch.empty(1, 4, *(6,) * n, **meta) for n in (1, 2, 3))
w1, w2, w3 = (torch.empty(4, 4, *(3,) * n, **meta) for n in (1, 2, 3))
COMPOSITE_CALLS = {
    "aten::conv1d": lambda op: op(x1, w1),
    "aten::conv1d.padding": lambda op: op(x1, w1, None, [1], "same"),
    "aten::conv2d": lambda op: op(x2, w2),
    "aten::conv2d.padding": lambda op: op(x2, w2, None, [1, 1], "same"),
    "aten::conv3d": lambda op: op(x3, w3),
    "aten::conv3d.padding": lambda op: op(x3, w3, None, [1, 1, 1], "valid"),
    "aten::conv_transpose1d": lambda op: op(x1, w1),
    "aten::conv_transpose2d.input": lambda op: op(x2, w2),
    "aten::conv_transpose3d.input": lambda op: op(x3, w3),
    "aten::_convolution_mode": lambda op: op(x2, w2, None, [1, 1], "same", [1, 1], 1),
}


class Calls(nn.Module):
    def __init__(self, call):
        super().__init__()
        self.call = call

    def forward(self, x):
        return self.call()


def decomposes_to_registered(op) -> bool:
    """Run ``op`` once under the capture in inference mode (torch hands it to the capture
    whole): it must come out as exactly one registered convolution."""
    call = COMPOSITE_CALLS.get(op.name())
    if call is None:
        return False
    try:
        with torch.inference_mode():
            trace = run(Calls(lambda: call(op)), ((1,),), {}, lambda s: torch.empty(s, **meta))
    except convops.ConvopsError:  # what it decomposes into is refused
        return False
    roles = [registry.role(c.func) for c in trace.calls]
    return roles.count("forward") == 1 and op not in [c.func for c in trace.calls]


def unaccounted() -> list[str]:
    """The convolution operators neither registered, decomposed, refused nor excluded."""
    registry._ROLES.clear()
    capture._ACTIONS.clear()
    missing = []
    for op in conv_operators():
        base, overload = op._schema.name, op._overloadname
        role = registry.role(op)
        if role in ("forward", "backward") or base in registry.NOT_ARITHMETIC:
            continue
        if role == "composite" and decomposes_to_registered(op):
            continue
        if role == "refused" and (base in registry.REFUSED or "out" in overload):
            continue
        missing.append(op.name())
    return missing


def test_every_convolution_operator_is_registered_decomposed_refused_or_excluded():
    assert len(conv_operators()) > 150
    assert unaccounted() == []


@pytest.mark.parametrize("table", ["FORWARD", "BACKWARD"])
def test_removing_any_registered_operator_leaves_it_unaccounted(table, monkeypatch):
    entries = getattr(registry, table)
    for op in list(entries):
        monkeypatch.setattr(registry, table, {k: v for k, v in entries.items() if k is not op})
        assert op.name() in unaccounted()
    monkeypatch.undo()
    registry._ROLES.clear()
    capture._ACTIONS.clear()


def test_every_listed_name_is_a_dispatcher_operator():
    names = {op._schema.name for op in conv_operators()}
    assert set(registry.REFUSED) <= names
    assert set(registry.NOT_ARITHMETIC) <= names
    assert not set(registry.REFUSED) & set(registry.NOT_ARITHMETIC)


def test_a_composite_without_a_call_here_is_not_counted_as_decomposed():
    assert not decomposes_to_registered(torch.ops.aten.linear.default)


# -- the capture refuses what it cannot count, by name ------------------------------------------
class Direct(nn.Module):
    """Calls a backend kernel of aten.convolution by name."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2, 3, 3, 3))

    def forward(self, x):
        return torch.ops.aten.slow_conv_dilated2d(x, self.weight, [3, 3], None, [1, 1], [0, 0],
                                                  [1, 1])


def test_a_convolution_convops_does_not_count_is_refused_naming_it_and_the_module():
    model = nn.Sequential(nn.ReLU(), Direct())
    for device in (None, "cpu"):
        with pytest.raises(convops.ConvopsError, match=r"^1 \(Direct\): aten\.slow_conv_dilated2d"
                           r"\.default is a convolution convops does not count \(a backend "
                           r"kernel of aten\.convolution"):
            convops.profile(model, (1, 3, 8, 8), device=device)
    Direct()(torch.zeros(1, 3, 8, 8))  # torch itself runs it


def test_an_unknown_operator_named_like_a_convolution_is_refused():
    lib = torch.library.Library("convops_test", "FRAGMENT")
    lib.define("myconv(Tensor x) -> Tensor")
    lib.impl("myconv", lambda x: x * 2, "CompositeExplicitAutograd")
    lib.impl("myconv", lambda x: x, "Meta")

    class Custom(nn.Module):
        def forward(self, x):
            return torch.ops.convops_test.myconv(x)

    with pytest.raises(convops.ConvopsError, match=r"convops_test\.myconv\.default is a "
                       r"convolution convops does not count \(an operator named like a "
                       r"convolution that convops does not know\)"):
        convops.profile(Custom(), (1, 3))


def test_the_not_counted_footer_never_lists_a_convolution():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ConvTranspose2d(4, 2, 3))
    for context in (torch.inference_mode, torch.no_grad, torch.enable_grad):
        with context():
            p = convops.profile(model, (1, 3, 8, 8))
        assert [layer.op for layer in p.counted] == ["aten.convolution"] * 2
        assert not [layer.op for layer in p.not_counted if "conv" in layer.op]


def test_the_capture_records_no_composite_in_inference_mode():
    model = nn.Sequential(nn.Conv1d(2, 2, 3, padding="same"), nn.Linear(6, 3))
    with torch.inference_mode():
        trace = run(model, ((1, 2, 6),), {}, lambda s: torch.empty(s, **meta), capture=Capture())
    assert not [c.func for c in trace.calls if registry.composite(c.func)]
