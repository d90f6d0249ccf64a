"""Every count against an executed check: the instrumented convolution, torch, FlopCounterMode."""

import pytest
import torch
from hypothesis import assume, given, strategies as st

import convops
from convops.reference import additions_by_ones, flop_counter_flops, run

from configs import layers, torch_output


TRANSPOSED = ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


@given(layers())
def test_count_equals_instrumented_execution(case):
    check_count_against_instrumented_execution(*case)


@given(layers(kinds=TRANSPOSED, max_kernel=5, cropped=True))
def test_count_of_cropped_transposed_layers_equals_instrumented_execution(case):
    # Inputs shorter than their padding: the lattice counts of A below their saturation.
    check_count_against_instrumented_execution(*case)


def check_count_against_instrumented_execution(module, shape):
    module = module.double()
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    expected = torch_output(module, x)
    assume(expected is not None)

    out, counter = run(module, x)
    torch.testing.assert_close(out, expected)  # the counted algorithm is this convolution

    b = convops.breakdown(module, shape)
    assert b.output_shape == tuple(expected.shape)
    assert (b.multiplications, b.additions) == (counter.multiplications, counter.additions)
    assert b.total == counter.total == convops.count_ops(module, shape)


@given(layers(max_channels_per_group=8, max_kernel=5))
def test_multiplications_equal_half_of_flop_counter(case):
    module, shape = case
    assume(torch_output(module, torch.zeros(shape)) is not None)
    assert 2 * convops.breakdown(module, shape).multiplications == flop_counter_flops(module, shape)


@given(st.one_of(layers(kinds=TRANSPOSED, max_kernel=5),
                 layers(kinds=TRANSPOSED, max_kernel=5, cropped=True)))
def test_closed_form_additions_equal_ones_trick(case):
    module, shape = case
    assume(torch_output(module, torch.zeros(shape)) is not None)
    size_in = shape[-module.weight.dim() + 2:]
    expected = additions_by_ones(size_in, module.kernel_size, module.stride, module.dilation,
                                 module.padding, module.output_padding)
    assert convops.breakdown(module, shape).A == expected


@pytest.mark.parametrize("size_in, kernel, stride, dilation, padding, output_padding", [
    ((100_000,), 7, 3, 2, 5, 1),
    ((99_991,), 16, 5, 3, 40, 2),
    ((20_000,), 9, 12, 1, 3, 11),       # gaps: stride beyond the kernel
    ((600, 700), (5, 4), (2, 3), (3, 2), (6, 2), (1, 2)),
    ((512, 512), 4, 2, 1, 1, 0),
    ((60, 70, 50), (3, 5, 2), (2, 4, 1), (2, 1, 3), (2, 3, 1), (1, 0, 2)),
])
def test_closed_form_at_sizes_beyond_the_instrumented_count(size_in, kernel, stride, dilation,
                                                            padding, output_padding):
    module = getattr(torch.nn, f"ConvTranspose{len(size_in)}d")(
        1, 1, kernel, stride=stride, dilation=dilation, padding=padding,
        output_padding=output_padding)
    expected = additions_by_ones(size_in, kernel, stride, dilation, padding, output_padding)
    b = convops.breakdown(module, (1, *size_in))
    assert b.A == expected
    assert convops.count_ops(module, (1, *size_in)) == b.total  # the per-call code agrees


def test_counts_are_exact_ints_far_beyond_float_precision():
    module = torch.nn.ConvTranspose1d(512, 512, 9, stride=3, padding=4, output_padding=2)
    shape = (1024, 512, 10**9)
    b = convops.breakdown(module, shape)
    d = convops.derive("ConvTranspose1d")
    S = d.symbols
    values = {S.N: 1024, S.C_in: 512, S.C_out: 512, S.g: 1, S.b: 1, S.size_in[0]: 10**9,
              S.size_out[0]: b.output_shape[-1], S.k[0]: 9, S.A: b.A}
    assert type(b.total) is int and b.total > 2**60  # floats lose exactness past 2**53
    assert b.total == d.total.subs(values)  # the compiled code agrees with sympy's rationals
    assert convops.count_ops(module, shape) == b.total


def test_batch_of_zero_counts_nothing():
    assert convops.count_ops(torch.nn.Conv2d(3, 4, 3), (0, 3, 8, 8)) == 0
    assert convops.count_ops(torch.nn.ConvTranspose2d(3, 4, 3), (0, 3, 8, 8)) == 0


def test_unbatched_input_counts_one_sample():
    module = torch.nn.Conv2d(3, 4, 3, padding=1)
    assert convops.count_ops(module, (3, 8, 8)) == convops.count_ops(module, (1, 3, 8, 8))
    assert convops.breakdown(module, (3, 8, 8)).output_shape == (4, 8, 8)


def test_subclasses_and_layers_count_like_their_module():
    class MyConv(torch.nn.Conv2d):
        pass

    layer = convops.Layer.create("Conv2d", 3, 6, 3, stride=2, padding=1, groups=3)
    module = MyConv(3, 6, 3, stride=2, padding=1, groups=3)
    assert convops.count_ops(layer, (2, 3, 9, 9)) == convops.count_ops(module, (2, 3, 9, 9))


def test_a_module_changed_after_its_first_count_is_counted_as_it_is_now():
    module = torch.nn.Conv2d(4, 6, 3).double()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    convops.count_ops(module, tuple(x.shape))
    changes = [("stride", (2, 1)), ("padding", (1, 2)), ("dilation", (2, 2)), ("bias", None),
               ("padding_mode", "circular"), ("groups", 2)]
    for name, value in changes:
        if name == "groups":  # torch reads the weight's shape: change both together
            module.weight = torch.nn.Parameter(module.weight[:, :2].contiguous())
        setattr(module, name, value)
        if name == "padding_mode":  # torch pads by what the constructor derived from padding
            with pytest.raises(convops.ConvopsError, match="_reversed_padding_repeated_twice"):
                convops.count_ops(module, tuple(x.shape))
            module._reversed_padding_repeated_twice = [2, 2, 1, 1]
        counter = run(module, x)[1]
        assert convops.count_ops(module, tuple(x.shape)) == counter.total, name
    module.stride = (0, 1)
    with pytest.raises(ValueError, match="stride"):
        convops.count_ops(module, tuple(x.shape))
    module = torch.nn.Conv1d(2, 2, 3, padding=4)
    assert convops.count_ops(module, (1, 2, 4)) == run(module, torch.ones(1, 2, 4))[1].total
    module.padding_mode = "reflect"  # reflect padding must stay inside the input
    with pytest.raises(ValueError, match="reflect"):
        convops.count_ops(module, (1, 2, 4))
