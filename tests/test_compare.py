"""convops against the peer counters: conventions converted exactly, every difference explained.

Peers are optional extras: a test of a peer that is not installed is skipped.
"""

import pytest

from convops import Layer, peers
from convops_book import comparison

PEERS = [pytest.param(peer, id=peer.name, marks=pytest.mark.skipif(
    not peer.available, reason=f"{peer.package} is not installed")) for peer in peers.PEERS.values()]


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("spec,shape", comparison.CASES)
def test_every_difference_is_a_convention_or_a_named_bug(peer, spec, shape):
    result = peers.compare(spec, shape, [peer]).results[0]
    assert result.value == result.emulated  # the peer's own formula reproduces it exactly
    assert result.explained, result
    if not result.bugs:
        assert result.agrees


def test_the_conventions():
    c = peers.compare("Conv1d(4, 6, 3)", (2, 4, 10), [])
    b = c.breakdown
    layer = Layer.parse("Conv1d(4, 6, 3)")
    known = peers.PEERS
    assert known["FlopCounterMode"].expected(layer, (2, 4, 10), b) == 2 * b.multiplications
    assert known["fvcore"].expected(layer, (2, 4, 10), b) == b.multiplications
    assert known["thop"].expected(layer, (2, 4, 10), b) == b.multiplications
    assert known["moduleprofiler"].expected(layer, (2, 4, 10), b) == b.total
    # ptflops: per sample, one MAC per multiplication and one per bias addition
    assert known["ptflops"].expected(layer, (2, 4, 10), b) == (b.multiplications + 6 * 8 * 2) / 2


@pytest.mark.parametrize("peer", PEERS)
def test_smallest_layers(peer):
    for bug in peer.bugs:
        found = comparison.smallest_layer(peer, bug)
        known = comparison.smallest_known(peer, bug)
        assert (found.spec, found.input_shape) == known, bug.name
        result = found.results[0]
        assert not result.agrees and result.explained and bug.name in result.bugs


def test_tables_render():
    comparisons = [peers.compare(*comparison.CASES[0], [peers.PEERS["FlopCounterMode"]])]
    tables = (comparison.counts_table(comparisons), *comparison.peer_tables(comparisons),
              comparison.conventions_table([peers.PEERS["FlopCounterMode"]]))
    for table in tables:
        assert table._repr_html_().startswith("<table")
        assert repr(table).count("\n") == len(table.rows) + bool(table.caption)
    [flop_counter] = comparison.peer_tables(comparisons)
    assert flop_counter.header[0] == "verdict" and flop_counter.caption.startswith("FlopCounterMode")


def test_model_table_lists_only_counted_layers():
    import convops
    from convops_book.models import UNet

    profile = convops.profile(UNet(width=4, depth=2), (1, 3, 32, 32))
    table = comparison.model_table(profile)
    assert len(table.rows) == len(profile.counted) + 1 < len(profile.layers)
    assert table.rows[-1][-1] == f"{profile.total:,}" and "not counted" in table.caption


def test_to_module_round_trips():
    for spec, _ in comparison.CASES:
        layer = Layer.parse(spec)
        assert Layer.from_module(layer.to_module()) == layer
