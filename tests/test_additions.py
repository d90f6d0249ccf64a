"""The lattice count behind the closed form, against enumeration."""

import itertools

from hypothesis import given, strategies as st

from convops.additions import floor_sum, lattice_count


@given(st.integers(0, 40), st.integers(1, 30), st.integers(0, 60), st.integers(0, 60))
def test_floor_sum_equals_the_sum(n, m, a, b):
    assert floor_sum(n, m, a, b) == sum((a * t + b) // m for t in range(n))


@given(st.integers(-3, 12), st.integers(-3, 9), st.integers(1, 7), st.integers(1, 7),
       st.integers(-20, 120))
def test_lattice_count_equals_enumeration(L, k, s, d, T):
    pairs = itertools.product(range(max(L, 0)), range(max(k, 0)))
    assert lattice_count(L, k, s, d, T) == sum(1 for i, j in pairs if i * s + j * d < T)
