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


class BoundedCache(dict):
    """A dict that forgets everything it holds past ``limit`` entries (models rarely hold more
    distinct layers; a stream of new shapes must not grow it without end).

    Examples
    --------
    >>> cache = BoundedCache(limit=2)
    >>> [cache.remember(k, k * k) for k in (1, 2, 3)], cache
    ([1, 4, 9], {1: 1, 2: 4, 3: 9})
    >>> cache.remember(4, 16), cache
    (16, {4: 16})
    >>> cache.remember([5], 25), cache  # unhashable: given back, not remembered
    (25, {4: 16})

    See Also
    --------
    forget : clear every cache.
    """

    def __init__(self, limit: int = 4096):
        super().__init__()
        self.limit = limit
        _ALL.append(self)

    def remember(self, key: Any, value: Any) -> Any:
        """Keep ``value`` under ``key`` (if ``key`` is hashable) and return it.

        >>> cache = BoundedCache()
        >>> cache.remember(("Conv1d", 3), 384), cache
        (384, {('Conv1d', 3): 384})
        """
        if len(self) > self.limit:
            self.clear()
        try:
            self[key] = value
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
    >>> forget(); cache
    {}

    See Also
    --------
    BoundedCache : what is forgotten.
    """
    for cache in _ALL:
        cache.clear()
