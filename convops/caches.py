"""What convops remembers between calls (a layer's plan and counter, a call's counts, a
convolution torch accepted), each in a :class:`BoundedCache`, and :func:`forget` to clear them.

Examples
--------
>>> import torch
>>> from convops import count_ops
>>> count_ops(torch.nn.Conv1d(1, 1, 3), (1, 1, 8))
36
>>> forget()  # the next count of that layer is a first count again
>>> count_ops(torch.nn.Conv1d(1, 1, 3), (1, 1, 8))
36
"""

from __future__ import annotations

from typing import Any

#: Every cache, for :func:`forget`.
_ALL: list[BoundedCache] = []


class BoundedCache:
    """A dict (:attr:`entries`) that forgets everything it holds past ``limit`` entries (models
    rarely hold more distinct layers; a stream of new shapes must not grow it without end).
    Readers look up :attr:`entries` itself, a plain dict: the fastest lookup Python has.

    Examples
    --------
    >>> cache = BoundedCache(limit=2)
    >>> [cache.remember(k, k * k) for k in (1, 2, 3)], cache.entries
    ([1, 4, 9], {1: 1, 2: 4, 3: 9})
    >>> cache.remember(4, 16), cache.entries
    (16, {4: 16})
    >>> cache.remember([5], 25), cache.entries  # unhashable: given back, not remembered
    (25, {4: 16})

    See Also
    --------
    forget : clear every cache.
    """

    def __init__(self, limit: int = 4096):
        self.entries: dict = {}
        self.limit = limit
        _ALL.append(self)

    def remember(self, key: Any, value: Any) -> Any:
        """Keep ``value`` under ``key`` (if ``key`` is hashable) and return it.

        >>> cache = BoundedCache()
        >>> cache.remember(("Conv1d", 3), 384), cache.entries
        (384, {('Conv1d', 3): 384})
        """
        if len(self.entries) > self.limit:
            self.entries.clear()
        try:
            self.entries[key] = value
        except TypeError:  # unhashable: not remembered
            pass
        return value


def forget() -> None:
    """Forget every layer and call seen so far: the next count is a first count (benchmarks).

    Examples
    --------
    >>> cache = BoundedCache()
    >>> cache.remember("layer", 1)
    1
    >>> forget(); cache.entries
    {}

    See Also
    --------
    BoundedCache : what is forgotten.
    """
    for cache in _ALL:
        cache.entries.clear()
