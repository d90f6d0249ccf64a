"""Command line: ``convops count`` counts one layer, ``convops formula`` prints the formula to cite,
``convops profile`` counts a whole model that a factory builds.

The layer is written the way it is built in Python, ``"Conv2d(3, 64, kernel_size=7, stride=2)"``,
and read as data with :mod:`ast`: only literal arguments (ints, strings, booleans, tuples and lists
of them) are accepted, and nothing in the text is ever evaluated.  A model comes from a factory,
``package.module:factory`` or ``path/to/file.py:factory``, called with the keyword arguments of
``--kwargs``, a JSON object (read as data too).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import sympy as sp

from . import __version__
from .additions import LatticeCount
from .backward import GRADIENTS
from .algorithms import ALGORITHMS, parse_tile
from .count import breakdown
from .derivation import KINDS, derive
from .errors import ConvopsError
from .layer import Layer
from .plans import QUANTITIES, TOTALS
from .symbols import indexed_symbols, latex, pretty

_EXAMPLE = 'convops count "Conv2d(3, 64, kernel_size=7, stride=2, padding=3)" --input 1,3,224,224'
_PROFILE_EXAMPLE = "convops profile torchvision.models:resnet50 --input 1,3,224,224"
_SIZE = re.compile(r"[A-Za-z_]\w*(=\d+)?")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` (brackets and spaces allowed) as a tuple of ints.

    Examples
    --------
    >>> parse_shape("(1, 3, 224, 224)")
    (1, 3, 224, 224)
    """
    parts = text.strip().strip("()[]").replace(" ", "").rstrip(",").split(",")
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise ConvopsError(f"--input must be comma-separated ints such as 1,3,224,224, "
                         f"got {text!r}") from None


def parse_sizes(text: str) -> tuple[int | str, ...]:
    """A ``--input`` of ``convops profile``: ints, or names of symbolic sizes (``H``, or
    ``H=224`` with the size to trace at).

    Examples
    --------
    >>> parse_sizes("1,3,H,W=320")
    (1, 3, 'H', 'W=320')
    """
    parts = text.strip().strip("()[]").replace(" ", "").rstrip(",").split(",")
    sizes: list[int | str] = []
    for part in parts:
        if part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        elif _SIZE.fullmatch(part):
            sizes.append(part)
        else:
            raise ConvopsError(f"--input {text!r}: {part!r} is not a size; give positive ints or "
                               "names of symbolic sizes, comma-separated, e.g. 1,3,224,224 or "
                               "1,3,H,W")
    return tuple(sizes)


def load_factory(target: str) -> Callable[..., Any]:
    """The callable ``TARGET`` names: ``package.module:factory`` (imported as Python imports it)
    or ``path/to/file.py:factory`` (that file, run as a module).

    Examples
    --------
    >>> load_factory("convops.layer:Layer").__name__
    'Layer'
    """
    location, colon, name = target.rpartition(":")
    if not colon or not location or not all(part.isidentifier() for part in name.split(".")):
        raise ConvopsError(f"TARGET {target!r} must be package.module:factory or "
                           "path/to/file.py:factory, e.g. torchvision.models:resnet50")
    try:
        if location.endswith(".py"):
            path = Path(location)
            if not path.is_file():
                raise ConvopsError(f"TARGET {target!r}: there is no file {location}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module  # as `python file.py` would: dataclasses need it
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except ConvopsError:
        raise
    except Exception as error:  # the user's code failed to import: say where, not a traceback
        raise ConvopsError(f"TARGET {target!r}: importing {location} failed: "
                           f"{type(error).__name__}: {error}") from error
    found: Any = module
    for part in name.split("."):
        if not hasattr(found, part):
            raise ConvopsError(f"TARGET {target!r}: {location} has no {name}")
        found = getattr(found, part)
    if not callable(found):
        raise ConvopsError(f"TARGET {target!r}: {name} is a {type(found).__name__}, not a "
                           "factory to call")
    return found


def build_model(target: str, kwargs_text: str | None = None):
    """The model ``TARGET``'s factory builds with ``kwargs_text`` (a JSON object) as keyword
    arguments, under ``torch.device("meta")`` (no memory for weights) where the factory allows
    it, else as the factory builds it.

    Examples
    --------
    >>> build_model("torch.nn:Conv1d", '{"in_channels": 2, "out_channels": 4, "kernel_size": 3}').weight.is_meta
    True
    """
    import torch

    try:
        kwargs = {} if kwargs_text is None else json.loads(kwargs_text)
    except json.JSONDecodeError as error:
        raise ConvopsError(f"--kwargs must be a JSON object such as '{{\"num_classes\": 10}}': "
                           f"{error}") from None
    if not isinstance(kwargs, dict):
        raise ConvopsError(f"--kwargs must be a JSON object such as '{{\"num_classes\": 10}}', "
                           f"got {kwargs_text!r}")
    factory = load_factory(target)
    try:
        with torch.device("meta"):
            model = factory(**kwargs)
    except Exception:  # e.g. a factory that loads or inspects weights: build it as it is
        try:
            model = factory(**kwargs)
        except Exception as error:
            raise ConvopsError(f"{target} failed with keyword arguments {kwargs}: "
                               f"{type(error).__name__}: {error}") from error
    if not isinstance(model, torch.nn.Module):
        raise ConvopsError(f"{target} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _dtype(name: str):
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConvopsError(f"--dtype {name!r} is not a floating-point torch dtype; e.g. "
                           "float32, bfloat16, float16, float64")
    return dtype


def profile_model(args: argparse.Namespace):
    """The profile ``convops profile`` prints, from its parsed arguments.

    Examples
    --------
    >>> import torch
    >>> from convops import count_ops
    >>> args = argument_parser().parse_args(["profile", "torch.nn:Conv2d", "-i", "1,3,8,8",
    ...     "--kwargs", '{"in_channels": 3, "out_channels": 8, "kernel_size": 3}'])
    >>> profile_model(args).total == count_ops(torch.nn.Conv2d(3, 8, 3), (1, 3, 8, 8))
    True

    See Also
    --------
    count_report : what ``convops count`` prints.
    """
    from .profiler import profile  # torch loads only for this command

    shapes = [parse_sizes(text) for text in args.input]
    if args.backward and any(isinstance(v, str) for shape in shapes for v in shape):
        raise ConvopsError("--backward counts concrete shapes: give every size as an int "
                           "(symbolic sizes print the forward's formulas)")
    if args.depth is not None and args.depth < 0:
        raise ConvopsError(f"--depth {args.depth} must be 0 or more (0: the model alone)")
    dtype = None if args.dtype is None else _dtype(args.dtype)
    model = build_model(args.target, args.kwargs)
    if dtype is not None:  # the model's floating-point tensors and its inputs (free on meta)
        model = model.to(dtype)
    options = {"backward": args.backward} | ({"mode": args.mode} if args.mode else {})
    options |= {"algorithm": args.algorithm, "tile": args.tile}
    return profile(model, *shapes, **options)


def _print_profile(report, args: argparse.Namespace) -> None:
    if args.json:
        print(report.to_json())
        return
    print(report.table(depth=args.depth))
    if hasattr(report, "symbols"):  # the formulas, region by region, in words (JSON: sympy's)
        lines = report.formula_text("total").splitlines()
        print("\ntotal = " + "\n        ".join(lines))


def _describe(layer: Layer) -> str:
    k = layer.kind
    parts = [str(layer.in_channels), str(layer.out_channels), f"kernel_size={layer.kernel_size}"]
    defaults = Layer.create(k, 1, 1, 1)
    for name in ("stride", "padding", "dilation", "output_padding", "groups", "bias",
                 "padding_mode"):
        value = getattr(layer, name)
        if value != getattr(defaults, name):
            parts.append(f"{name}={value!r}")
    return f"{k.name}({', '.join(parts)})"


def count_report(layer: Layer, input_shape: tuple[int, ...], backward: bool = False,
                 gradients: tuple[str, ...] | None = None) -> dict[str, object]:
    """Every figure ``convops count`` prints, as plain ints and strings; with ``backward``, also
    the backward pass's per gradient (``gradients``: which, by default all).

    Examples
    --------
    >>> report = count_report(Layer.parse("Conv1d(2, 4, 3)"), (1, 2, 10), backward=True)
    >>> report["module"], report["total"], report["flops"], report["backward"]["grad_bias"]
    ('Conv1d(2, 4, kernel_size=(3,))', 384, 384, {'multiplications': 0, 'additions': 28, 'total': 28})
    """
    b = breakdown(layer, input_shape)
    report = {"module": _describe(layer), "input_shape": list(b.input_shape),
              "output_shape": list(b.output_shape), "batch": b.batch,
              **{q: getattr(b, q) for q in QUANTITIES}, "macs": b.macs, "flops": b.flops}
    if backward:
        back = breakdown(layer, input_shape, backward=True, gradients=gradients)
        report["backward"] = {
            **{f"grad_{g}": None if c is None else {q: getattr(c, q) for q in TOTALS}
               for g in GRADIENTS for c in [getattr(back, f"grad_{g}")]},
            "fold": back.fold, **{q: getattr(back, q) for q in TOTALS}, "flops": back.flops}
        report["training_total"] = b.total + back.total
    return report


def _print_backward(report: dict) -> None:
    back = report["backward"]
    print(f"backward operations: {back['total']:,}  (forward + backward: "
          f"{report['training_total']:,})")
    print(f"  {'gradient':<12}{'multiplications':>20}{'additions':>20}{'total':>20}")
    for g in GRADIENTS:
        counts = back[f"grad_{g}"]
        if counts is not None:
            print(f"  {'grad_' + g:<12}" + "".join(f"{counts[q]:>20,}" for q in TOTALS))
    if back["fold"]:
        print(f"  (grad_input's additions include {back['fold']:,} that fold the padded "
              "positions back)")
    print(f"  FLOPs  = 2·multiplications (FlopCounterMode style)  {back['flops']:>20,}")


def _print_count(report: dict) -> None:
    rows = [("ψ  filters (C_in·C_out/g)", report["psi"]),
            ("λ  operations per filter", report["lam"]),
            ("γ  aggregation + bias additions per sample", report["gamma"])]
    if report["A"] is not None:
        rows.append(("A  additions per filter (overlapping products)", report["A"]))
    rows += [("N  batch", report["batch"]),
             ("multiplications  N·ψ·(products per filter)", report["multiplications"]),
             ("additions        N·(ψ·(additions per filter) + γ)", report["additions"]),
             ("total            N·(ψ·λ + γ)", report["total"]),
             ("MACs   = multiplications (ptflops/thop/fvcore style)", report["macs"]),
             ("FLOPs  = 2·MACs (FlopCounterMode style, bias ignored)", report["flops"])]
    width = max(len(label) for label, _ in rows)
    print(f"{report['module']} on input {tuple(report['input_shape'])} "
          f"-> output {tuple(report['output_shape'])}")
    print(f"total operations: {report['total']:,}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value:>20,}")


def formula_equations(kind: str, bias: bool | None) -> dict[str, sp.Eq]:
    """The equations ``convops formula`` prints: the total(s), then what they are written in,
    each per-dimension family as one formula in a generic dimension ``i``.

    Examples
    --------
    >>> list(formula_equations("ConvTranspose1d", bias=True))
    ['total_bias', 'output_size', 'A', 's_reduced', 'd_reduced', 'P', 'Z']
    """
    d = derive(kind)
    eqs = d.indexed_equations()
    names = {None: ["total_bias", "total_no_bias"], True: ["total_bias"],
             False: ["total_no_bias"]}[bias]
    names.append("output_size")
    if d.kind.transposed:
        names += ["A", "s_reduced", "d_reduced", "P", "Z"]
    return {name: eqs[name] for name in names}


def _plain(name: str, eq: sp.Eq, kind: str) -> str:
    lhs = eq.lhs
    if name.startswith("total"):
        lhs = sp.Symbol(f"{kind}_ops")
    return pretty(sp.Eq(lhs, eq.rhs, evaluate=False))


def _print_formula(kind: str, bias: bool | None, as_latex: bool) -> None:
    d = derive(kind)
    eqs = formula_equations(kind, bias)
    titles = {"total_bias": "total, bias=True", "total_no_bias": "total, bias=False",
              "output_size": "output size, along every spatial dimension i",
              "A": "additions per filter A (P: products landing inside, Z: positions reached)",
              "s_reduced": "reduced stride s', along every dimension i",
              "d_reduced": "reduced dilation d', along every dimension i",
              "P": "products landing inside the output, along every dimension i",
              "Z": "output positions reached by a product, along every dimension i"}
    for name, eq in eqs.items():
        print(f"# {titles.get(name, name.replace('_', ' '))}")
        print(latex(eq) if as_latex else _plain(name, eq, d.name))
        print()
    used = set().union(*(eq.rhs.free_symbols | eq.lhs.free_symbols for eq in eqs.values()))
    print("# where")
    meanings = {**d.symbols.describe(), **indexed_symbols().describe()}
    for symbol, meaning in meanings.items():
        if symbol in used and not symbol.name.startswith(("psi", "lam", "gamma")):
            print(f"  {symbol}: {meaning}")
    if any(eq.rhs.has(LatticeCount) for eq in eqs.values()):
        print("  LatticeCount(L, k, s, d, T): F, the number of pairs (m, j) with 0 <= m < L, "
              "0 <= j < k and m*s + j*d < T")


def _gradient_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def argument_parser() -> argparse.ArgumentParser:
    """The parser of ``convops``' command line: ``count``, ``formula`` and ``profile``.

    Examples
    --------
    >>> args = argument_parser().parse_args(["count", "Conv1d(2, 4, 3)", "-i", "1,2,10"])
    >>> args.command, args.module, args.input, args.json
    ('count', 'Conv1d(2, 4, 3)', '1,2,10', False)

    See Also
    --------
    main : parses and runs.
    """
    parser = argparse.ArgumentParser(
        prog="convops",
        description="Exact operation counts (scalar multiplications + additions) of torch's "
                    "Conv1d/2d/3d and ConvTranspose1d/2d/3d.",
        epilog=f"example:\n  {_EXAMPLE}\n  convops formula ConvTranspose2d --no-bias --latex",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"convops {__version__}")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{count,formula,profile}")
    count = commands.add_parser(
        "count", help="count the operations of one layer on one input shape",
        description="Count one layer's operations: the total, its ψ/λ/γ terms, multiplications "
                    "and additions, and the MAC and FLOP conventions other tools report.",
        epilog=f"example:\n  {_EXAMPLE}\n\nThe module is read as data, never run: only literal "
               "arguments are accepted.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    count.add_argument("module", help='the module as written in Python, in quotes, e.g. '
                                      '"ConvTranspose2d(16, 8, 4, stride=2, padding=1)"')
    count.add_argument("--input", "-i", required=True, metavar="SHAPE",
                       help="input shape, comma-separated: N,C_in,*spatial or C_in,*spatial "
                            "(unbatched), e.g. 1,3,224,224")
    count.add_argument("--json", action="store_true", help="print the figures as JSON")
    count.add_argument("--backward", action="store_true",
                       help="also count the backward pass: grad_input, grad_weight, grad_bias")
    count.add_argument("--gradients", metavar="NAMES", type=_gradient_names,
                       help="with --backward, the gradients to count, comma-separated "
                            "(default input,weight,bias; a first layer needs no input)")
    _algorithm_arguments(count)
    formula = commands.add_parser(
        "formula", help="print the symbolic formula of a module kind, to cite",
        description="Print the simplified total of a module kind and the output-size (and, for "
                    "transposed kinds, additions) formulas it is written in, from convops.derive.",
        epilog="example:\n  convops formula Conv2d --bias\n  convops formula ConvTranspose2d --latex",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    formula.add_argument("kind", choices=list(KINDS), metavar="KIND",
                         help=f"one of {', '.join(KINDS)}")
    bias = formula.add_mutually_exclusive_group()
    bias.add_argument("--bias", dest="bias", action="store_const", const=True,
                      help="only the total of a layer with bias")
    bias.add_argument("--no-bias", dest="bias", action="store_const", const=False,
                      help="only the total of a layer without bias")
    formula.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    _profile_parser(commands)
    return parser


def _profile_parser(commands) -> None:
    command = commands.add_parser(
        "profile", help="count every convolution a whole model runs, module by module",
        description="Build a model with its factory (on the meta device where it allows it, so "
                    "nothing is allocated), run it once on meta tensors of the input shapes and "
                    "print the module tree: output shapes, parameters, MACs, operations and "
                    "each module's share of the counted convolution operations.",
        epilog=f"examples:\n  {_PROFILE_EXAMPLE}\n"
               "  convops profile models.py:build --kwargs '{\"num_classes\": 10}' "
               "--input 1,3,H,W\n"
               "  convops profile torchvision.models:googlenet --backward --mode train "
               "--input 2,3,224,224\n\nA symbolic size (a name such as H) prints formulas.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("target", metavar="TARGET",
                         help="the factory that builds the model: package.module:factory or "
                              "path/to/file.py:factory")
    command.add_argument("--input", "-i", required=True, action="append", metavar="SHAPE",
                         help="an input's shape, comma-separated ints or names of symbolic sizes "
                              "(1,3,H,W); repeat for a model with several inputs")
    command.add_argument("--kwargs", metavar="JSON",
                         help="keyword arguments of the factory, a JSON object, e.g. "
                              "'{\"num_classes\": 10}'")
    command.add_argument("--dtype", metavar="DTYPE",
                         help="the floating-point dtype the model and its inputs run in, e.g. "
                              "float16 (default: the model's)")
    command.add_argument("--depth", type=int, metavar="N",
                         help="levels of the module tree to show (default: as many as fit in "
                              "about 30 rows)")
    command.add_argument("--backward", action="store_true",
                         help="also count the backward pass of every convolution")
    command.add_argument("--mode", choices=("eval", "train"),
                         help="the mode the model runs in (default: eval, train with --backward)")
    command.add_argument("--json", action="store_true",
                         help="print the profile as JSON: model, inputs, mode, totals, modules, "
                              "calls, not_counted")
    _algorithm_arguments(command)


def _algorithm_arguments(command) -> None:
    command.add_argument("--algorithm", choices=ALGORITHMS, default="direct",
                         help="what a fast library runs (default: direct): im2col, winograd "
                              "(stride 1, dilation 1), fft or fft_gauss (the same, 3-multiplication "
                              "complex products)")
    command.add_argument("--tile", type=parse_tile, metavar="SIZE",
                         help="winograd: m, the outputs per tile side (default 2); fft: the FFT "
                              "size, a power of two (default: the whole input); one int, or one "
                              "per dimension, comma-separated")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, or 2 for a refused command).

    Examples
    --------
    >>> main(["count", "Conv1d(2, 4, 3)", "--input", "1,2,10", "--json"])  # doctest: +ELLIPSIS
    {
      "module": "Conv1d(2, 4, kernel_size=(3,))",
    ...
    0
    """
    parser = argument_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "count":
            if args.gradients is not None and not args.backward:
                raise ConvopsError("--gradients applies to the backward pass: add --backward")
            if args.algorithm != "direct" or args.tile is not None:
                b = breakdown(Layer.parse(args.module), parse_shape(args.input), args.backward,
                              algorithm=args.algorithm, tile=args.tile)
                print(json.dumps(b.as_dict(), indent=2) if args.json else b.text())
                sys.stdout.flush()
                return 0
            report = count_report(Layer.parse(args.module), parse_shape(args.input),
                                  args.backward, args.gradients)
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                _print_count(report)
                if args.backward:
                    _print_backward(report)
        elif args.command == "profile":
            _print_profile(profile_model(args), args)
        else:
            _print_formula(args.kind, args.bias, args.latex)
        sys.stdout.flush()
    except ConvopsError as error:
        print(f"convops {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `convops ... | head` closed the pipe: stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
