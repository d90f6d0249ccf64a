"""A model's inputs: shapes and tensors, nested in tuples, lists and dicts, as :func:`convops.profile`
takes them; checked (:func:`check_inputs`), described, and stood in for by meta tensors or by
tensors on a device when the model runs (:mod:`convops.capture`).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import torch

from .errors import ConvopsError, elide
from .layer import sizes

_INT64 = 2 ** 63 - 1


def is_shape(value) -> bool:
    """A tuple or list of ints and strings (symbolic sizes) stands for a tensor of that shape.

    >>> is_shape((1, 3, "H", "W")), is_shape([]), is_shape((1.5, 2))
    (True, False, False)
    """
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(type(v) is int or isinstance(v, str) for v in value))


def integer_shapes(value):
    """``value`` with each shape written in integers of other types (numpy integers, 0-d
    integer tensors among ints) as a tuple of ints; a sequence of tensors only stays one.

    Examples
    --------
    >>> import numpy
    >>> integer_shapes(((numpy.int64(1), 3, torch.tensor(8)), {"x": [torch.tensor(2)]}))
    ((1, 3, 8), {'x': [tensor(2)]})
    """
    if isinstance(value, (tuple, list)) and value and not is_shape(value):
        whole = sizes(value)
        if is_shape(whole) and not all(isinstance(v, torch.Tensor) for v in value):
            return whole
        items = [integer_shapes(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, integer_shapes(v)) for k, v in value.items())
    return value


def map_inputs(value, leaf):
    """``value`` with every shape and tensor replaced by ``leaf(it)``, containers kept.

    >>> map_inputs(((1, 2), {"mask": torch.empty(3)}, 0.5), lambda v: tuple(v.shape) if
    ...            isinstance(v, torch.Tensor) else len(v))
    (2, {'mask': (3,)}, 0.5)
    """
    if isinstance(value, torch.Tensor) or is_shape(value):
        return leaf(value)
    if isinstance(value, (tuple, list)):
        items = [map_inputs(v, leaf) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, map_inputs(v, leaf)) for k, v in value.items())
    return value


def describe(args, kwargs) -> str:
    """The inputs as given, with a shape for each tensor.

    >>> describe(((1, 3, 8), torch.empty(2, 4)), {"scale": 2})
    '(1, 3, 8), (2, 4), scale=2'
    """
    args, kwargs = map_inputs((args, kwargs), lambda v: _Shape(tuple(
        v.shape if isinstance(v, torch.Tensor) else v)))
    return ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])


class _Shape(tuple):
    def __repr__(self) -> str:
        return shape_text(self)


def shape_text(shape) -> str:
    """``shape`` as Python writes a tuple of it: ``(4,)``, ``(1, 3, 8)``.

    Examples
    --------
    >>> shape_text([4]), shape_text((1, 3, 8))
    ('(4,)', '(1, 3, 8)')
    """
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def first_shape(value, shapes: bool = True) -> tuple | None:
    """The shape of the first tensor in ``value``, nested in tuples, lists and dicts, or with
    ``shapes=True`` of the first tensor or shape (a model's inputs; an operation's arguments hold
    sizes that are no tensor's, as ``aten.view``'s).

    Examples
    --------
    >>> first_shape({"x": [torch.empty(2, 3)]}), first_shape(((1, 4), torch.empty(5)))
    ((2, 3), (1, 4))
    >>> first_shape(((1, 4), torch.empty(5)), shapes=False)
    (5,)
    """
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if shapes and is_shape(value):
        return tuple(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return next((s for s in (first_shape(v, shapes) for v in value) if s is not None), None)
    return None


def is_symbolic(value) -> bool:
    """Whether a shape in ``value`` holds a string (a symbolic size).

    >>> is_symbolic(((1, 3, "H"),)), is_symbolic({"x": (1, 3, 8)})
    (True, False)
    """
    if is_shape(value):
        return any(isinstance(v, str) for v in value)
    if isinstance(value, (tuple, list)):
        return any(map(is_symbolic, value))
    if isinstance(value, dict):
        return any(map(is_symbolic, value.values()))
    return False


def tensors(value) -> list[torch.Tensor]:
    """Every tensor in ``value`` (nested in tuples, lists and dicts).

    >>> [tuple(t.shape) for t in tensors(((1, 2), [torch.empty(3)], {"y": torch.empty(4, 5)}))]
    [(3,), (4, 5)]
    """
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors(item)]
    return []


def default_dtype(model) -> torch.dtype:
    """The dtype of an input given as a shape: the model's first floating-point or complex
    parameter's (a complex model gets a complex input).

    Examples
    --------
    >>> default_dtype(torch.nn.Conv1d(1, 1, 1, dtype=torch.complex64))
    torch.complex64
    """
    return next((p.dtype for p in model.parameters() if p.is_floating_point() or p.is_complex()),
                torch.float32)


#: A string that reads as a shape: sizes (ints or names) between commas, or ints joined by x
_SHAPE_TEXT = re.compile(r"[\s(\[]*(\w+(\s*,\s*\w+)+\s*,?|\d+(\s*[x×]\s*\d+)+)[\s)\]]*")


def _shape_sizes(text: str) -> list[str]:
    separators = r"[\s,()\[\]]+" if "," in text else r"[\s()\[\]x×]+"
    return [size for size in re.split(separators, text) if size]


def check_inputs(inputs: tuple, kw_inputs: dict) -> None:
    """Refuse input shapes no tensor can have: negative or non-int sizes, sizes past int64.

    Examples
    --------
    >>> check_inputs(((1, 3, "H"),), {})
    >>> check_inputs(("1x3x224x224",), {})
    Traceback (most recent call last):
    ...
    convops.errors.ConvopsError: input '1x3x224x224' is a string: give a shape as a tuple, e.g. (1, 3, 224, 224) (a string inside a tuple is a symbolic size, e.g. (1, 3, 'H', 'W'))
    """
    def check(value):
        if is_shape(value):
            sizes = [v for v in value if not isinstance(v, str)]
            if any(v < 0 for v in sizes):
                raise ConvopsError(f"input shape {elide(repr(value))}: sizes must be ints ≥ 0")
            product = 1
            for v in sizes:
                product *= v
            if max(sizes, default=0) > _INT64 or product > _INT64:
                raise ConvopsError(
                    f"input shape {elide(repr(value))}: profile runs the model on meta tensors, "
                    "which need sizes (and a number of elements) that fit in int64; "
                    "convops.count_ops counts any size, layer by layer")
        return value

    for value in inputs:
        if isinstance(value, str) and _SHAPE_TEXT.fullmatch(value):
            raise ConvopsError(f"input {elide(repr(value))} is a string: give a shape as a tuple, "
                               f"e.g. ({', '.join(_shape_sizes(value))}) (a string inside a "
                               "tuple is a symbolic size, e.g. (1, 3, 'H', 'W'))")
        if (isinstance(value, (tuple, list)) and value and not is_shape(value)
                and all(isinstance(v, (int, float, str)) for v in value)):
            raise ConvopsError(f"input shape {elide(repr(value))}: sizes must be ints ≥ 0 (or "
                               "names, for symbolic sizes)")
    map_inputs((inputs, kw_inputs), check)


def meta_input(dtype: torch.dtype) -> Callable[[Any], torch.Tensor]:
    """Makes each input on meta: a tensor's stand-in, or a tensor of a shape, of ``dtype``.

    >>> make = meta_input(torch.float64)
    >>> make((1, 2)).dtype, make(torch.empty(3, dtype=torch.int8)).dtype, make((1, 2)).device
    (torch.float64, torch.int8, device(type='meta'))
    """
    def make(value):
        if isinstance(value, torch.Tensor):
            return value if value.is_meta else torch.empty_like(value, device="meta")
        return torch.empty(tuple(value), dtype=dtype, device="meta")
    return make


def on_meta(tensor: torch.Tensor) -> torch.Tensor:
    """A parameter's or buffer's stand-in: a meta tensor of its shape and dtype.

    >>> on_meta(torch.zeros(2, dtype=torch.int64))
    tensor(..., device='meta', size=(2,), dtype=torch.int64)
    """
    return tensor if tensor.is_meta else torch.empty_like(tensor, device="meta")


def on_meta_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """A meta stand-in that requires grad where ``tensor`` does (a frozen weight stays frozen).

    >>> on_meta_with_grad(torch.nn.Parameter(torch.zeros(2))).requires_grad
    True
    >>> on_meta_with_grad(torch.zeros(2)).requires_grad
    False
    """
    meta = torch.empty_like(tensor, device="meta")
    return meta.requires_grad_() if tensor.requires_grad else meta


def stand_in_on(device: torch.device | str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A real run's stand-in: the tensor itself on ``device``, a copy there otherwise; a tensor
    on meta gets random values (a seeded generator, so every run sees the same).

    >>> stand_in = stand_in_on("cpu")
    >>> weight = torch.zeros(2)
    >>> stand_in(weight) is weight, stand_in(torch.empty(2, device="meta")).device
    (True, device(type='cpu'))
    """
    device = torch.device(device)

    def stand_in(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == device:
            return tensor
        if tensor.is_meta:
            return random_like(tensor.shape, tensor.dtype, device).requires_grad_(
                tensor.requires_grad)
        return tensor.detach().to(device).requires_grad_(tensor.requires_grad)
    return stand_in


def random_like(shape, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Seeded random values of ``shape`` on ``device`` (normal for floats, 0 or 1 otherwise).

    >>> torch.equal(random_like((3,), torch.float32, "cpu"), random_like((3,), torch.float32, "cpu"))
    True
    >>> set(random_like((20,), torch.int64, "cpu").tolist()) <= {0, 1}
    True
    """
    generator = torch.Generator().manual_seed(0)
    if dtype.is_floating_point or dtype.is_complex:
        values = torch.randn(tuple(shape), generator=generator, dtype=dtype)
    else:
        values = torch.randint(0, 2, tuple(shape), generator=generator).to(dtype)
    return values.to(device)
