"""The calculator in Chromium against convops in Python.

Random layers of all six kinds, with every parameter, forward and backward, refusals and counts
beyond 2**53, go through the page's own path (the query a permalink carries, evaluated in the
page); a few are full permalink loads, one reached by in-site navigation.  Every ``data-value``
must equal :func:`convops.breakdown`, and every refusal must name the parameter convops'
:class:`~convops.ConvopsError` names.  The generated module, mutated (two of its functions
swapped; one ``n`` suffix dropped), must make the same comparison fail.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from urllib.parse import unquote_plus, urlencode

import pytest

import convops
from convops import ConvopsError, KINDS, Layer, breakdown

from convops_book.calculator import example_layer

ROOT = Path(__file__).resolve().parents[2]
CASES = 320
SEED = 20
GRADIENTS = ("input", "weight", "bias")
FORMULAS = "**/assets/convops/formulas.js"


def parameter_of(message: str) -> str:
    """The parameter a ConvopsError of ``Layer.parse``, ``breakdown`` or the layer checks names."""
    if message.startswith(("cannot parse", "the module must be", "argument unpacking")) or re.match(
            r"Conv(Transpose)?\dd: ", message):
        return "layer"
    if literal := re.match(r"(.+?) must be a literal", message):
        return literal[1]
    if "every output size must be at least 1" in message:
        return "output_size"
    if message.startswith("padding (") and "padding_mode" in message:
        return "padding_mode"
    return re.match(r"(\w+)=", message)[1]


# -- random layers -----------------------------------------------------------------------------
def _ints(rng, values, n):
    """One per dimension, written as Python would: an int where all agree, or a tuple/list."""
    if len(set(values)) == 1 and rng.random() < 0.6:
        return str(values[0])
    text = ", ".join(map(str, values))
    return f"[{text}]" if rng.random() < 0.2 else f"({text},)" if n == 1 else f"({text})"


def random_layer(rng: random.Random, huge: bool = False) -> tuple[str, tuple]:
    """A layer torch accepts (as text) and an input shape it accepts, most of the time."""
    name = rng.choice(list(KINDS))
    kind = KINDS[name]
    n = kind.ndim
    g = rng.choice([1, 1, 2, 3])
    c_in, c_out = g * rng.randint(1, 3), g * rng.randint(1, 3)
    k = [rng.randint(1, 4) for _ in range(n)]
    s = [rng.randint(1, 3) for _ in range(n)]
    d = [rng.randint(1, 3) for _ in range(n)]
    p = [rng.randint(0, 3) for _ in range(n)]
    args = {"kernel_size": _ints(rng, k, n), "stride": _ints(rng, s, n), "dilation": _ints(rng, d, n),
            "groups": str(g), "bias": rng.choice(["True", "False"])}
    if kind.transposed:
        args["padding"] = _ints(rng, p, n)
        q = [rng.randrange(max(a, b)) for a, b in zip(s, d)]
        if rng.random() < 0.1:  # torch's limit, just reached: refused
            q[-1] = max(s[-1], d[-1])
        args["output_padding"] = _ints(rng, q, n)
    else:
        choice = rng.random()
        if choice < 0.15:
            args["padding"], args["stride"] = "'same'", "1"
        elif choice < 0.25:
            args["padding"] = "'valid'"
        else:
            args["padding"] = _ints(rng, p, n)
        args["padding_mode"] = repr(rng.choice(convops.layer.PADDING_MODES))
    if huge:
        c_in, c_out = g * rng.randint(10**5, 10**7), g * rng.randint(10**5, 10**7)
    positional = [str(c_in), str(c_out), args.pop("kernel_size")]
    order = ["stride", "padding", "output_padding", "groups"] if kind.transposed else ["stride", "padding", "dilation", "groups"]
    while order and order[0] in args and rng.random() < 0.3:  # some as torch binds them by position
        positional.append(args.pop(order.pop(0)))
    keywords = list(args.items())
    rng.shuffle(keywords)
    prefix = rng.choice(["", "", "nn.", "torch.nn."])
    spec = f"{prefix}{name}({', '.join(positional + [f'{key}={value}' for key, value in keywords])})"
    smallest = 10**6 if huge else 1
    sizes = [rng.randint(smallest, smallest + 12) for _ in range(n)]
    batch = rng.choice([0, 1, 2, 3, 10**9]) if not huge else rng.randint(1, 10**6)
    shape = (batch, c_in, *sizes) if rng.random() < 0.8 else (c_in, *sizes)
    return spec, shape


#: Ways to break a layer or its input, each as torch (and so convops) would refuse it.
BREAKS = (
    lambda spec, shape: (spec.replace("groups=", "groups=5*0+", 1), shape),  # not a literal
    lambda spec, shape: (re.sub(r"\((\d+)", r"(\1.0", spec, count=1), shape),  # a float
    lambda spec, shape: (spec.rstrip(")"), shape),  # unbalanced
    lambda spec, shape: (re.sub(r"Conv(Transpose)?(\d)d", r"Conv\g<2>x", spec, count=1), shape),
    lambda spec, shape: (spec[:-1] + ", frobnicate=1)", shape),
    lambda spec, shape: (spec[:-1] + ", bias=0)" if "bias=" not in spec else spec.replace("bias=", "bias=-1 and ", 1), shape),
    lambda spec, shape: (spec[:-1] + ", padding_mode='mirror')" if "padding_mode" not in spec else spec.replace("padding_mode='", "padding_mode='x", 1), shape),
    lambda spec, shape: (spec[:-1] + ", groups=7)" if "groups=" not in spec else re.sub(r"groups=\d+", "groups=7", spec), shape),
    lambda spec, shape: (spec[:-1] + ", stride=0)" if "stride=" not in spec else re.sub(r"stride=[^=]*?(?=, \w+=|\)$)", "stride=0", spec), shape),
    lambda spec, shape: (spec[:-1] + ", dilation=(1, 1, 1, 1))" if "dilation=" not in spec else re.sub(r"dilation=[^=]*?(?=, \w+=|\)$)", "dilation=(1, 1, 1, 1)", spec), shape),
    lambda spec, shape: (spec[:-1] + ", kernel_size=True)" if "kernel_size=" not in spec else spec, shape),
    lambda spec, shape: (spec, shape[:-1]),  # a dimension short
    lambda spec, shape: (spec, (*shape[:-1], 0)),  # an empty spatial size
    lambda spec, shape: (spec, (-1, *shape[-len(shape) + 1:]) if len(shape) > 2 else (shape[0] + 1, *shape[1:])),
    lambda spec, shape: (spec, (*shape[:-2], shape[-2] + 1, shape[-1]) if len(shape) > 2 else (1, 99, *shape[1:])),
    lambda spec, shape: (spec, (*shape[:-1], "a")),
    lambda spec, shape: (spec.replace("padding=", "padding=40+", 1) if "padding=(" not in spec else spec, (*shape[:-1], 1)),
    lambda spec, shape: (spec[:-1] + ", padding=" + "'same', stride=2)" if "padding=" not in spec else spec, (*shape[:-1], 2)),
    lambda spec, shape: (spec[:-1] + ", output_padding=(9,9,9))", shape),
    lambda spec, shape: (re.sub(r"\bpadding=[^=]*?(?=, \w+=|\)$)", "padding=-1", spec), shape),
    lambda spec, shape: (re.sub(r"\bpadding=[^=]*?(?=, \w+=|\)$)", "padding='same'", spec), shape),
    lambda spec, shape: (spec[:-1] + ", *())", shape),
    lambda spec, shape: (spec.replace("(", "(kernel_size=2, ", 1), shape),  # positional after keyword
)


def random_case(rng: random.Random) -> dict:
    spec, shape = random_layer(rng, huge=rng.random() < 0.08)
    if rng.random() < 0.25:
        spec, shape = rng.choice(BREAKS)(spec, shape)
    backward = rng.random() < 0.5
    gradients = tuple(g for g in GRADIENTS if rng.random() < 0.8) if backward and rng.random() < 0.3 else None
    return {"layer": spec, "shape": shape, "backward": backward, "gradients": gradients}


def query(case: dict) -> str:
    fields = {"layer": case["layer"], "input": ", ".join(map(str, case["shape"]))}
    if case["backward"]:
        fields["backward"] = "1"
        if case["gradients"] is not None:
            fields["gradients"] = ",".join(case["gradients"])
    return "?" + urlencode(fields)


def expected(case: dict) -> dict:
    """What the page must show: every data-quantity's exact value, or the parameter refused."""
    try:
        layer = Layer.parse(case["layer"])
        forward = breakdown(layer, case["shape"])
        backward = breakdown(layer, case["shape"], backward=True,
                             gradients=case["gradients"]) if case["backward"] else None
    except ConvopsError as error:
        return {"refusal": parameter_of(str(error))}
    values = {q: str(getattr(forward, q)) for q in
              ("psi", "lam", "gamma", "multiplications", "additions", "total", "macs", "flops")}
    values["output_shape"] = ",".join(map(str, forward.output_shape))
    if forward.A is not None:
        values["A"] = str(forward.A)
    if backward is not None:
        values["fold"] = str(backward.fold)
        for g in backward.gradients:
            for quantity in ("multiplications", "additions"):
                values[f"grad_{g}.{quantity}"] = str(getattr(getattr(backward, f"grad_{g}"), quantity))
        for quantity in ("multiplications", "additions", "total", "flops"):
            values[f"backward.{quantity}"] = str(getattr(backward, quantity))
    return {"values": values}


#: What the page shows after evaluating: every data-value, or the refusal's parameter.
READ = """(root) => {
  const alert = root.querySelector("[role=alert]");
  if (!alert.hidden) return {refusal: alert.dataset.parameter, text: alert.textContent};
  return {values: Object.fromEntries([...root.querySelectorAll(".convops-calc-results [data-quantity]")]
    .map((e) => [e.dataset.quantity, e.dataset.value]))};
}"""

EVALUATE_ALL = """([queries, read]) => {
  const reader = eval(read);
  const root = document.querySelector(".convops-calculator");
  return queries.map((q) => {
    try { window.convopsCalculator.fromQuery(q); return reader(root); }
    catch (e) { return {error: String(e)}; }
  });
}"""


def shown(result: dict) -> dict:
    return {"refusal": result["refusal"]} if "refusal" in result else result


def mismatches(visit, cases) -> list[str]:
    """The cases whose page result differs from convops, after evaluating each in the page."""
    results = visit.page.evaluate(EVALUATE_ALL, [[query(c) for c in cases], READ])
    wrong = []
    for case, result in zip(cases, results):
        want = expected(case)
        got = {k: v for k, v in result.items() if k != "text"}
        if got != want:
            wrong.append(f"{query(case)}: page {result}, convops {want}")
    return wrong


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    rng = random.Random(SEED)
    return [random_case(rng) for _ in range(CASES)]


def open_calculator(visit, search: str = "") -> None:
    visit.goto(f"calculator/{search}")
    visit.page.wait_for_selector(".convops-calculator[data-state]")


def test_cases_cover_the_issue(cases):
    """The random cases reach every kind, parameter and refusal the calculator must handle."""
    outcomes = [expected(c) for c in cases]
    refused = [o["refusal"] for o in outcomes if "refusal" in o]
    counted = [o["values"] for o in outcomes if "values" in o]
    assert {c["layer"].split("(")[0].split(".")[-1] for c in cases} >= set(KINDS)
    assert len(counted) >= 180 and len(refused) >= 40
    assert {"layer", "groups", "stride", "padding", "padding_mode", "input_shape", "output_size",
            "bias", "output_padding", "dilation"} <= set(refused), set(refused)
    assert sum(int(v["total"]) > 2**53 for v in counted) >= 10
    assert sum("backward.total" in v for v in counted) >= 80
    text = " ".join(c["layer"] for c in cases)
    for parameter in ("stride=", "padding=", "dilation=", "groups=", "bias=", "padding_mode=",
                      "output_padding=", "'same'", "'valid'", "'reflect'", "'circular'", "'replicate'"):
        assert parameter in text


def test_every_value_and_refusal_matches_convops(visit, cases):
    open_calculator(visit)
    assert mismatches(visit, cases) == []
    assert visit.problems == []


@pytest.mark.parametrize("mutation", ["swap", "suffix"])
def test_a_mutated_module_is_caught(visit, cases, build, mutation):
    """Two generated functions swapped, or one BigInt literal's ``n`` dropped: the comparison fails."""
    source = (build.site / "assets/convops/formulas.js").read_text()
    if mutation == "swap":
        a, b = "function forward_Conv2d(", "function forward_ConvTranspose2d("
        assert a in source and b in source
        mutated = source.replace(a, "@@").replace(b, a).replace("@@", b)
    else:
        body = source.index("function forward_Conv1d(")
        literal = re.compile(r"\b(\d+)n\b").search(source, body)
        mutated = source[:literal.start()] + literal[1] + source[literal.end():]
    assert mutated != source
    visit.context.route(FORMULAS, lambda route: route.fulfill(body=mutated, content_type="text/javascript"))
    open_calculator(visit)
    assert mismatches(visit, cases[:80])


def test_permalinks_load_and_reproduce_in_python(visit, cases):
    """Full loads of permalinks; the copied call, run in Python, gives the page's numbers."""
    small = [c for c in cases if "values" in expected(c) and max(c["shape"]) < 10**5
             and int(expected(c)["values"]["total"]) < 10**9][:3]
    for case in small + [next(c for c in cases if "refusal" in expected(c))]:
        open_calculator(visit, query(case))
        result = visit.page.evaluate(READ, visit.page.query_selector(".convops-calculator"))
        assert {k: v for k, v in result.items() if k != "text"} == expected(case), query(case)
        if "values" in result:
            code = visit.page.inner_text(".convops-calc-python code")
            assert f"convops {convops.__version__}" in code
            namespace = {}
            exec(code.replace("convops.breakdown(", "result = convops.breakdown(", 1), namespace)
            assert str(namespace["result"].total) == result["values"][
                "backward.total" if case["backward"] else "total"]
            assert f"convops {convops.__version__}" in visit.page.inner_text(".convops-calc-version")
    assert visit.problems == []


def test_a_permalink_reached_by_navigation(visit):
    """From a module page, its calculator's permalink opens the Calculator page through
    Material's instant navigation (no reload), which evaluates the link's query."""
    layer, shape = example_layer(ROOT / "notebooks/convtranspose2d.ipynb")
    visit.goto("notebooks/convtranspose2d/")
    embedded = visit.page.wait_for_selector(".convops-calculator[data-state]")
    assert embedded.get_attribute("data-state") == "counted"
    visit.page.evaluate("window.__not_reloaded = true")
    visit.page.click(".convops-calculator .convops-calc-link")
    visit.page.wait_for_url("**/calculator/?*")
    visit.page.wait_for_selector(".convops-calculator[data-permalink=true][data-state]")
    assert visit.page.evaluate("window.__not_reloaded") is True
    result = visit.page.evaluate(READ, visit.page.query_selector(".convops-calculator"))
    shape_tuple = tuple(int(x) for x in shape.split(","))
    case = {"layer": layer, "shape": shape_tuple, "backward": False, "gradients": None}
    assert {k: v for k, v in result.items() if k != "text"} == expected(case)
    assert visit.problems == []


def test_every_module_page_embeds_its_example(visit):
    for name in KINDS:
        layer, shape = example_layer(ROOT / f"notebooks/{name.lower()}.ipynb")
        visit.goto(f"notebooks/{name.lower()}/")
        root = visit.page.wait_for_selector(".convops-calculator[data-state]")
        assert root.get_attribute("data-state") == "counted", name
        result = visit.page.evaluate(READ, root)
        case = {"layer": layer, "shape": tuple(int(x) for x in shape.split(",")), "backward": False,
                "gradients": None}
        assert result == expected(case), name
        # below the formula summary
        assert visit.page.evaluate("""() => {
          const summary = document.getElementById("formula-summary");
          const calc = document.querySelector(".convops-calculator");
          return !!(summary.compareDocumentPosition(calc) & Node.DOCUMENT_POSITION_FOLLOWING);
        }""")
    assert visit.problems == []


def test_typing_updates_and_refusals_are_alerts(visit):
    open_calculator(visit, "?" + urlencode({"layer": "Conv2d(3, 8, 3)", "input": "1, 3, 8, 8"}))
    page = visit.page
    page.fill(".convops-calculator input[name=layer]", "Conv2d(3, 8, 3, groups=2)")
    alert = page.get_by_role("alert")
    assert alert.is_visible() and alert.get_attribute("data-parameter") == "groups"
    assert "groups" in alert.inner_text()
    # nothing to copy for a refused layer: neither the code box nor its button shows
    assert not page.is_visible(".convops-calc-python") and not page.is_visible(".convops-calc-copy")
    page.fill(".convops-calculator input[name=layer]", "Conv2d(3, 8, 3)")
    assert not alert.is_visible()
    page.click(".convops-calc-fields summary")
    page.fill(".convops-calculator input[name=stride]", "2")
    assert "stride=2" in page.input_value(".convops-calculator input[name=layer]")
    case = {"layer": "Conv2d(3, 8, 3, stride=2)", "shape": (1, 3, 8, 8), "backward": False, "gradients": None}
    assert page.evaluate(READ, page.query_selector(".convops-calculator")) == expected(case)
    assert "stride=2" in unquote_plus(page.url)  # the address is the permalink
    page.check(".convops-calculator input[name=backward]")
    case["backward"] = True
    assert page.evaluate(READ, page.query_selector(".convops-calculator")) == expected(case)
    assert page.query_selector(".convops-calc-formula .katex")
    assert visit.problems == []


def test_arithmetic_is_fast(visit, cases):
    """The median time of the arithmetic (parsing, checks, every count, forward and backward)
    over 1,000 random layers, each timed over 20 runs (performance.now() is coarse)."""
    rng = random.Random(SEED + 1)
    layers = []
    while len(layers) < 1000:
        spec, shape = random_layer(rng, huge=rng.random() < 0.1)
        layers.append([spec, ", ".join(map(str, shape))])
    open_calculator(visit)
    median_ms = visit.page.evaluate("""(layers) => {
      const times = layers.map(([layer, shape]) => {
        const start = performance.now();
        for (let i = 0; i < 20; i++) window.convopsCalculator.compute(layer, shape, true);
        return (performance.now() - start) / 20;
      });
      times.sort((a, b) => a - b);
      return times[times.length >> 1];
    }""", layers)
    print(f"\ncalculator arithmetic: median {median_ms * 1000:.1f} µs per layer over 1,000 layers "
          "(forward and backward)")
    assert median_ms < 5
    assert visit.problems == []


def test_fits_on_a_phone(visit):
    visit.page.set_viewport_size({"width": 390, "height": 800})
    open_calculator(visit, "?" + urlencode({"layer": "Conv3d(1000000, 2000000, 3, padding='same')",
                                             "input": "1000, 1000000, 300, 300, 300", "backward": "1"}))
    assert visit.page.evaluate("document.documentElement.scrollWidth") <= 390
    box = visit.page.query_selector(".convops-calc-results [data-quantity=total]").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
