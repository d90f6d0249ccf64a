"""Backward counts against executed checks: the instrumented backward (its gradients equal
torch.autograd's), the instrumented forward, FlopCounterMode and torch's transposed convolution."""

import math
import random

import pytest
import sympy as sp
import torch
from hypothesis import assume, given, strategies as st

import convops
from convops.backward import GRADIENTS
from convops.reference import (additions_by_ones, flop_counter_backward_flops,
                               measure_backward, run)

from configs import KIND_NAMES, layers, torch_output

TRANSPOSED = ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


def check_backward_against_instrumented_execution(module, shape):
    counters = measure_backward(module, shape)  # the counted algorithm computes autograd's gradients
    b = convops.breakdown(module, shape, backward=True)
    for name in GRADIENTS:
        counted = getattr(b, f"grad_{name}")
        assert (counted.multiplications, counted.additions) == (
            counters[name].multiplications, counters[name].additions), name
    assert b.total == sum(c.total for c in counters.values())
    assert convops.count_ops(module, shape, backward=True) == b.total
    # Each gradient multiplies as often as the forward does (bias: never).
    forward = run(module, torch.zeros(shape))[1].multiplications
    assert counters["input"].multiplications == counters["weight"].multiplications == forward


def accepted(module, shape) -> bool:
    return torch_output(module, torch.zeros(shape)) is not None


@given(layers())
def test_backward_counts_equal_instrumented_backward(case):
    assume(accepted(*case))
    check_backward_against_instrumented_execution(*case)


@given(layers(kinds=TRANSPOSED, max_kernel=5, cropped=True))
def test_backward_of_cropped_transposed_layers_equals_instrumented_backward(case):
    assume(accepted(*case))
    check_backward_against_instrumented_execution(*case)


@pytest.mark.parametrize("module, shape", [
    # padding='same' with even kernels: uneven padding, so grad_input crops unevenly.
    (torch.nn.Conv2d(2, 4, (4, 2), padding="same", dilation=(1, 3)), (2, 2, 7, 6)),
    (torch.nn.Conv1d(3, 3, 6, padding="same", groups=3, padding_mode="reflect"), (1, 3, 8)),
    (torch.nn.Conv3d(1, 2, 2, padding="same", padding_mode="circular"), (1, 1, 3, 2, 4)),
    # stride beyond the reach of the kernel: input positions no product touches.
    (torch.nn.Conv1d(2, 2, 2, stride=5, padding=1), (2, 2, 13)),
    # output_padding >= stride: the convolution computing grad_input could reach further.
    (torch.nn.ConvTranspose1d(2, 4, 3, stride=2, dilation=3, output_padding=2), (2, 2, 4)),
    (torch.nn.ConvTranspose2d(2, 2, 2, stride=(1, 2), dilation=(4, 5), output_padding=(3, 4),
                              padding=(2, 1)), (1, 2, 3, 3)),
    # reflect padding as far as torch allows, replicate beyond the input's size.
    (torch.nn.Conv1d(1, 2, 3, padding=4, padding_mode="reflect"), (2, 1, 5)),
    (torch.nn.Conv2d(1, 1, 3, stride=2, padding=(5, 0), padding_mode="replicate"), (1, 1, 2, 4)),
])
def test_backward_of_subtle_layers_equals_instrumented_backward(module, shape):
    check_backward_against_instrumented_execution(module, shape)


@given(layers(max_channels_per_group=8, max_kernel=5))
def test_flop_counter_backward_is_twice_the_multiplications(case):
    module, shape = case
    assume(accepted(module, shape))
    b = convops.breakdown(module, shape, backward=True)
    assert flop_counter_backward_flops(module, shape, ("input",)) == 2 * b.grad_input.multiplications
    # FlopCounterMode leaves the groups out of grad_weight: g times the products computed.
    weight = flop_counter_backward_flops(module, shape, ("weight",))
    assert weight == 2 * module.groups * b.grad_weight.multiplications
    if module.groups == 1:
        assert flop_counter_backward_flops(module, shape, ("input", "weight", "bias")) == b.flops


@pytest.mark.parametrize("size_in, kernel, stride, dilation, padding", [
    ((150_001,), 7, 3, 2, 5),
    ((270_004,), 4, 9, 1, 0),     # gaps: stride beyond the kernel
    ((797, 1494), (5, 4), (2, 3), (3, 2), (6, 2)),
])
def test_grad_input_additions_equal_ones_trick_at_large_sizes(size_in, kernel, stride, dilation,
                                                              padding):
    # grad_input of a conv is a transposed convolution from the output's size to the input's;
    # with one channel, its additions are those of torch's all-ones transposed convolution.
    module = getattr(torch.nn, f"Conv{len(size_in)}d")(1, 1, kernel, stride=stride,
                                                       dilation=dilation, padding=padding)
    b = convops.breakdown(module, (1, 1, *size_in), backward=True)
    size_out = b.output_shape[2:]
    q = tuple(L + 2 * p - (o - 1) * s - d * (k - 1) - 1 for L, p, o, s, d, k in zip(
        size_in, module.padding, size_out, module.stride, module.dilation, module.kernel_size))
    assert b.grad_input.additions == additions_by_ones(size_out, kernel, stride, dilation,
                                                       padding, q)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_simplified_forms_equal_the_derivation(name):
    backward = convops.derive(name).backward
    S = backward.symbols
    for bias in (True, False):
        for gradient in (*GRADIENTS, "total"):
            full = (backward.total if gradient == "total" else backward.gradient(gradient).total)
            difference = backward.simplified(bias, gradient) - full.subs(S.b, int(bias))
            assert sp.simplify(difference) == 0, (name, bias, gradient)


def test_gradients_left_out_are_not_counted():
    module, shape = torch.nn.Conv2d(3, 8, 3, padding=1), (2, 3, 9, 9)
    every = convops.breakdown(module, shape, backward=True)
    first_layer = convops.breakdown(module, shape, backward=True, gradients=("weight", "bias"))
    assert first_layer.grad_input is None and first_layer.gradients == ("weight", "bias")
    assert first_layer.grad_weight == every.grad_weight
    assert first_layer.total == every.total - every.grad_input.total
    assert convops.count_ops(module, shape, backward=True, gradients="bias") == every.grad_bias.total


@pytest.mark.parametrize("kwargs, match", [
    (dict(backward=True, gradients=("input", "x")), "'x' is not a gradient"),
    (dict(backward=True, gradients=3), "3"),
    (dict(gradients=("weight",)), "backward=True"),
])
def test_bad_gradients_are_refused(kwargs, match):
    with pytest.raises(convops.ConvopsError, match=match):
        convops.count_ops(torch.nn.Conv1d(1, 1, 3), (1, 1, 8), **kwargs)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_empty_batch_counts_nothing_and_unbatched_counts_one_sample(name):
    ndim = int(name[-2])
    module = getattr(torch.nn, name)(2, 4, 3, bias=True)
    empty = convops.breakdown(module, (0, 2) + (5,) * ndim, backward=True)
    measured = measure_backward(module, (0, 2) + (5,) * ndim)
    assert [empty.grad_input, empty.grad_weight, empty.grad_bias] == [
        convops.GradientCount(c.multiplications, c.additions) for c in measured.values()]
    assert empty.total == 0
    assert (convops.breakdown(module, (2,) + (5,) * ndim, backward=True).total
            == convops.breakdown(module, (1, 2) + (5,) * ndim, backward=True).total)


def test_cli_counts_the_backward(capsys):
    from convops.cli import main

    layer, shape = "Conv2d(3, 8, 3, padding=1, padding_mode='reflect')", (2, 3, 9, 9)
    assert main(["count", layer, "--input", "2,3,9,9", "--backward", "--json"]) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    module = torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
    counters = measure_backward(module, shape)
    for name in GRADIENTS:
        assert report["backward"][f"grad_{name}"]["total"] == counters[name].total
    assert report["training_total"] == run(module, torch.zeros(shape))[1].total + sum(
        c.total for c in counters.values())
    assert main(["count", layer, "--input", "2,3,9,9", "--backward", "--gradients", "weight"]) == 0
    assert "grad_weight" in capsys.readouterr().out
    assert main(["count", layer, "--input", "2,3,9,9", "--gradients", "weight"]) == 2
    assert main(["count", layer, "--input", "2,3,9,9", "--backward", "--gradients", "w"]) == 2


def _dual_counts(module, shape, backward):
    """The forward count of the torch module that computes ``module``'s grad_input (the other
    kind, channels swapped, no bias), built from torch's constructor, or None where no torch
    module is that convolution (its output_padding would be out of torch's range)."""
    n = len(shape) - 2
    out = backward.output_shape[2:]
    k, s, d, g = module.kernel_size, module.stride, module.dilation, module.groups
    cin, cout = module.in_channels, module.out_channels
    if module.transposed:
        if any(q >= si for q, si in zip(module.output_padding, s)):
            return None
        dual = getattr(torch.nn, f"Conv{n}d")(cout, cin, k, s, module.padding, d, g, False)
    else:
        pad = module.padding if module.padding_mode == "zeros" else (0,) * n
        size_in = [L + (0 if module.padding_mode == "zeros" else 2 * p)
                   for L, p in zip(shape[2:], module.padding)]
        q = [L + 2 * p - (o - 1) * si - di * (ki - 1) - 1
             for L, p, o, ki, si, di in zip(size_in, pad, out, k, s, d)]
        if any(not 0 <= qi < max(si, di) for qi, si, di in zip(q, s, d)):
            return None
        dual = getattr(torch.nn, f"ConvTranspose{n}d")(cout, cin, k, s, pad, q, g, False, d)
    return convops.breakdown(dual, (shape[0], cout, *out))


def test_grad_input_is_the_forward_count_of_the_module_that_computes_it():
    # Independent of convops.backward: the dual module built by torch, counted by the forward
    # (itself checked against the instrumented run), plus one addition per padded position.
    rng, checked = random.Random(0), 0
    for _ in range(400):
        n, g = rng.randint(1, 3), rng.choice([1, 2])
        k, s, d, p = ([rng.randint(1, top) for _ in range(n)] for top in (3, 3, 2, 2))
        p = [x - 1 for x in p] if rng.random() < 0.5 else p
        shape = (rng.randint(1, 2), g * rng.randint(1, 2), *(rng.randint(1, 6) for _ in range(n)))
        cout = g * rng.randint(1, 2)
        if rng.random() < 0.5:
            q = [rng.randrange(max(si, di)) for si, di in zip(s, d)]
            module = getattr(torch.nn, f"ConvTranspose{n}d")(shape[1], cout, k, s, p, q, g, True, d)
        else:
            mode = rng.choice(["zeros", "reflect", "replicate", "circular"])
            module = getattr(torch.nn, f"Conv{n}d")(shape[1], cout, k, s, p, d, g, True, mode)
        try:
            backward = convops.breakdown(module, shape, backward=True)
        except convops.ConvopsError:
            continue
        dual = _dual_counts(module, shape, backward)
        if dual is None:
            continue
        fold = 0
        if not module.transposed and module.padding_mode != "zeros":
            padded = math.prod(L + 2 * pi for L, pi in zip(shape[2:], module.padding))
            fold = shape[0] * shape[1] * (padded - math.prod(shape[2:]))
        assert (backward.grad_input.multiplications, backward.grad_input.additions) == (
            dual.multiplications, dual.additions + fold), (module, shape)
        checked += 1
    assert checked > 200


def test_q_is_an_integer_of_no_declared_sign_as_the_backward_takes_it_to_minus_one():
    """The convolution computing grad_input of padding='same' with an even kernel crops one
    more at the end (q = -1, checked against execution above): q's assumptions admit it."""
    for S in (convops.derive("Conv2d").symbols, convops.symbols.indexed_symbols()):
        q = S.q[0]
        assert q.is_integer and q.is_nonnegative is None and q.is_positive is None
        assert (q + 1).subs(q, -1) == 0 and S.p[0].is_nonnegative  # p stays a count of cells
