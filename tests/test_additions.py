"""The lattice count behind the closed form, against enumeration."""

import itertools

from hypothesis import given, strategies as st

from convops.additions import floor_sum, lattice_count, saturation


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
