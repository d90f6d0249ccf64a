"""The lattice count behind the closed form, against enumeration."""

import itertools

import sympy as sp
from hypothesis import given, settings, strategies as st

from convops.additions import LatticeCount, floor_sum, lattice_count, saturation


@given(st.integers(0, 40), st.integers(1, 30), st.integers(0, 60), st.integers(0, 60))
def test_floor_sum_equals_the_sum(n, m, a, b):
    assert floor_sum(n, m, a, b) == sum((a * t + b) // m for t in range(n))


@given(st.integers(-3, 12), st.integers(-3, 9), st.integers(1, 7), st.integers(1, 7),
       st.integers(-20, 120))
def test_lattice_count_equals_enumeration(L, k, s, d, T):
    assert lattice_count(L, k, s, d, T) == enumerated(L, k, s, d, T)


def enumerated(L, k, s, d, T):
    return sum(1 for i, j in itertools.product(range(max(L, 0)), range(max(k, 0))) if i * s + j * d < T)


@given(st.integers(-3, 9), st.integers(1, 7), st.integers(1, 7), st.integers(-20, 60),
       st.integers(0, 12))
def test_lattice_count_stops_growing_at_its_saturation(k, s, d, T, beyond):
    bound = saturation(k, s, d, T)
    assert enumerated(bound + beyond, k, s, d, T) == enumerated(bound, k, s, d, T)
    if bound > 0:  # and not before: the bound is the least such size
        assert enumerated(bound - 1, k, s, d, T) < enumerated(bound, k, s, d, T)


def test_lattice_count_is_an_integer_that_floor_leaves_as_it_is():
    L, k, s, d, T = sp.symbols("L k s d T", integer=True, positive=True)
    count = LatticeCount(L, k, s, d, T)
    assert count.is_integer and count.is_nonnegative
    assert sp.floor(count) == count and sp.ceiling(count) == count
    assert sp.floor(count / 2) != count / 2  # an integer, not a multiple of 2


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5),
       st.integers(-5, 60))
def test_lattice_count_rewritten_as_a_sum_counts_the_pairs(L, k, s, d, T):
    symbols = sp.symbols("L k s d T", integer=True, positive=True)
    total = LatticeCount(*symbols).rewrite(sp.Sum)
    assert isinstance(total, sp.Sum)
    values = dict(zip(symbols, (L, k, s, d, T)))
    assert total.subs(values).doit() == enumerated(L, k, s, d, T)
