"""convops against the peer counters: conventions converted exactly, every difference explained.

Peers are optional extras: a test of a peer that is not installed is skipped.
"""

import pytest

from convops import compare

PEERS = [pytest.param(peer, id=peer.name, marks=pytest.mark.skipif(
    not peer.available, reason=f"{peer.package} is not installed")) for peer in compare.PEERS.values()]


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("spec,shape", compare.CASES)
def test_every_difference_is_a_convention_or_a_named_bug(peer, spec, shape):
    result = compare.compare(spec, shape, [peer]).results[0]
    assert result.value == result.emulated  # the peer's own formula reproduces it exactly
    assert result.explained, result
    if not result.bugs:
        assert result.agrees


def test_the_conventions():
    c = compare.compare("Conv1d(4, 6, 3)", (2, 4, 10), [])
    b = c.breakdown
    layer = compare.parse_module("Conv1d(4, 6, 3)")
    peers = compare.PEERS
    assert peers["FlopCounterMode"].expected(layer, (2, 4, 10), b) == 2 * b.multiplications
    assert peers["fvcore"].expected(layer, (2, 4, 10), b) == b.multiplications
    assert peers["thop"].expected(layer, (2, 4, 10), b) == b.multiplications
    assert peers["moduleprofiler"].expected(layer, (2, 4, 10), b) == b.total
    # ptflops: per sample, one MAC per multiplication and one per bias addition
    assert peers["ptflops"].expected(layer, (2, 4, 10), b) == (b.multiplications + 6 * 8 * 2) / 2


@pytest.mark.parametrize("peer", PEERS)
def test_smallest_layers(peer):
    for bug in peer.bugs:
        found = compare.smallest_layer(peer, bug)
        known = compare.smallest_known(peer, bug)
        assert (found.spec, found.input_shape) == known, bug.name
        result = found.results[0]
        assert not result.agrees and result.explained and bug.name in result.bugs


def test_tables_render():
    comparisons = [compare.compare(*compare.CASES[0], [compare.PEERS["FlopCounterMode"]])]
    for table in (compare.counts_table(comparisons), compare.verdict_table(comparisons),
                  compare.conventions_table([compare.PEERS["FlopCounterMode"]])):
        assert "<table>" in table._repr_html_() and str(table).count("\n") >= 2


def test_to_module_round_trips():
    from convops import Layer

    for spec, _ in compare.CASES:
        layer = compare.parse_module(spec)
        assert Layer.from_module(compare.to_module(layer)) == layer
