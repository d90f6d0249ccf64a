import itertools
import random

import numpy as np
import pytest
import torch

from convops_book import overlap
from convops.additions import lattice_count
from convops.reference import additions_by_ones


def test_products_per_position_matches_hand_count():
    # L=2, k=3: the pages' example, y = [1, 2, 2, 1].
    assert overlap.products_per_position((2,), 3).tolist() == [1, 2, 2, 1]
    # stride 3 > kernel 2 leaves a gap between the two input elements' products.
    assert overlap.products_per_position((2,), 2, stride=3).tolist() == [1, 1, 0, 1, 1]
    # Full scatter [1, 1, 2, 1, 1]: padding 1 crops a position at each end, output_padding 1
    # gives the last one back; without padding, output_padding adds a position nothing reaches.
    assert overlap.products_per_position((2,), 3, stride=2, padding=1).tolist() == [1, 2, 1]
    assert overlap.products_per_position((2,), 3, stride=2, padding=1, output_padding=1).tolist() == [
        1, 2, 1, 1]
    assert overlap.products_per_position((2,), 3, stride=2, output_padding=1).tolist() == [
        1, 1, 2, 1, 1, 0]


def test_products_total_is_every_product_that_lands_inside():
    counts = overlap.products_per_position((3, 4), (2, 3), stride=(2, 1), dilation=(1, 2))
    assert counts.sum() == 3 * 4 * 2 * 3
    assert counts.shape == (2 * 2 + 1 + 1, 3 + 4 + 1)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_enumeration_equals_torch_ones_trick(ndim):
    rng = random.Random(ndim)
    for _ in range(40):
        config = overlap.random_config(rng, ndim, max_size=4, max_kernel=3)
        counts = overlap.products_per_position(*config.arguments())
        np.testing.assert_array_equal(counts, overlap.products_per_position_by_torch(*config.arguments()))
        assert overlap.additions_from_counts(counts) == additions_by_ones(*config.arguments())


def test_random_configs_are_accepted_by_torch_and_cover_the_cases():
    rng = random.Random(0)
    configs = [overlap.random_config(rng, 1) for _ in range(300)]
    for config in configs[:30]:
        config.module()(torch.ones((1, 1, *config.size_in)))
    assert any(c.output_padding[0] for c in configs)
    assert any(c.padding[0] for c in configs)
    assert any(c.stride[0] > c.dilation[0] * (c.kernel_size[0] - 1) + 1 for c in configs)
    assert all(0 <= c.output_padding[0] < max(c.stride[0], c.dilation[0]) for c in configs)


def test_verify_additions_agrees_and_is_seeded():
    first = overlap.verify_additions(150, seed=3)
    assert first.agree and first.checked == 150
    assert first.with_gaps > 0 and first.pages_negative > 0
    second = overlap.verify_additions(150, seed=3)
    assert (first.with_gaps, first.pages_negative) == (second.with_gaps, second.pages_negative)


def test_verify_additions_reports_a_wrong_closed_form(monkeypatch):
    import convops_book.overlap as module

    real = module.breakdown
    monkeypatch.setattr(module, "breakdown", lambda *a: real(*a).__class__(
        **{**real(*a).__dict__, "A": real(*a).A + 1}))
    assert not module.verify_additions(5, seed=0).agree


def test_verify_reference_agrees():
    result = overlap.verify_reference(12, seed=1)
    assert result.agree and result.checked == 12


def test_gcd_rule_without_cropping():
    # Two products collide exactly when (i, j) differ by a multiple of (d', -s').
    for L, k, s, d in itertools.product(range(1, 6), range(1, 5), range(1, 6), range(1, 4)):
        g = np.gcd(s, d)
        expected = max(L - d // g, 0) * max(k - s // g, 0)
        assert overlap.additions_from_counts(overlap.products_per_position((L,), k, s, d)) == expected


def test_lattice_count_by_enumeration():
    for L, k, s, d, T in itertools.product(range(0, 5), range(0, 4), range(1, 4), range(1, 4),
                                           range(-2, 14)):
        expected = sum(i * s + j * d < T for i in range(L) for j in range(k))
        assert lattice_count(L, k, s, d, T) == expected


def test_draw_counts_leaves_unreached_positions_empty():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = overlap.products_per_position((2, 2), 2, stride=3)
    fig, ax = plt.subplots()
    overlap.draw_counts(ax, counts, "gaps")
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == int((counts > 0).sum()) and "0" not in labels
    assert ax.get_title() == "gaps"
    plt.close(fig)


def test_per_dim_argument_errors_name_the_parameter():
    with pytest.raises(ValueError, match="stride"):
        overlap.products_per_position((3, 3), 2, stride=(1, 2, 3))
    with pytest.raises(ValueError, match="output size"):
        overlap.products_per_position((1,), 1, padding=2)


def test_additions_table():
    module = torch.nn.ConvTranspose1d(2, 2, 2, stride=3)
    table = overlap.additions_table(module, (1, 2, 4))
    assert [row[-1] for row in table.rows] == ["✓", "✓", "✓", "✗"]
    assert table.rows[-1][1] == "-3"
    with pytest.raises(ValueError, match="ConvTranspose"):
        overlap.additions_table(torch.nn.Conv1d(1, 1, 2), (1, 1, 4))


def test_counts_figure_describes_each_map():
    pytest.importorskip("matplotlib")
    shown = overlap.counts_figure((4, 4), [dict(kernel_size=2, stride=3), dict(kernel_size=3)])
    # (4 − 1)·3 + 2 = 11 positions per dimension, 8 of them reached: 121 − 64 = 57 unreached
    assert "2 maps" in shown.alt and "k=2, s=3: 11×11 output, 57 positions unreached, A = 0" in shown.alt
    assert "k=3: 6×6 output, 0 positions unreached, A = 108" in shown.alt  # 12·12 − 6·6
