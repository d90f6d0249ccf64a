"""The notebook helpers: their tables agree with the package, and they refuse what they cannot show."""

import pytest
import sympy
import torch

import convops
from convops_book import figures, notebook

LAYERS = [
    (torch.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (2, 4, 11)),
    (torch.nn.Conv1d(2, 3, 4, padding="same", bias=False, padding_mode="circular"), (2, 9)),
    (torch.nn.Conv2d(2, 4, (3, 2), padding=1, padding_mode="reflect"), (1, 2, 5, 6)),
    (torch.nn.Conv3d(2, 2, 2, stride=(1, 2, 1), groups=2), (1, 2, 3, 4, 3)),
    (torch.nn.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1), (1, 2, 5)),
]


@pytest.mark.parametrize("module, shape", LAYERS)
def test_comparison_agrees_with_the_package(module, shape):
    table = notebook.comparison(module, shape)
    assert table.all_equal
    b = convops.breakdown(module, shape)
    values = {row[0]: row[1] for row in table.rows}
    assert values["total"] == f"{b.total:,}"
    assert values["ψ (filters)"] == f"{b.psi:,}"


@pytest.mark.parametrize("module, shape", LAYERS)
def test_measure_is_what_torch_and_the_reference_show(module, shape):
    m = notebook.measure(module, shape)
    assert m.matches_torch
    with torch.no_grad():
        assert m.output_shape == tuple(module(torch.zeros(shape)).shape)
    assert m.flop_counter == 2 * m.multiplications
    b = convops.breakdown(module, shape)
    assert (m.filters, m.per_filter, m.aggregation) == (b.psi, b.lam, b.gamma)


def test_measure_is_deterministic():
    module, shape = LAYERS[0]
    assert notebook.measure(module, shape) == notebook.measure(module, shape)


def test_comparison_rows_are_selectable_and_checked():
    module, shape = LAYERS[0]
    table = notebook.comparison(module, shape, rows=("psi", "lam"))
    assert [row[0] for row in table.rows] == ["ψ (filters)", "λ (operations per filter)"]
    with pytest.raises(ValueError, match="rows=.*'nope'"):
        notebook.comparison(module, shape, rows=("nope",))


def test_table_renders_in_every_form():
    table = notebook.Table(("a", "b"), (("1", "<2>"),), caption="c")
    assert '<td data-label="b">&lt;2&gt;</td>' in table._repr_html_()
    assert "<caption>c</caption>" in table._repr_html_()
    assert table._repr_markdown_().splitlines()[2:] == ["| a | b |", "| --- | --- |", "| 1 | <2> |"]
    assert repr(table).splitlines() == ["c", "a  b", "1  <2>"]


def test_table_marks_differences():
    assert not notebook.Table(("x", ""), (("1", "✓"), ("2", "✗"))).all_equal


def test_equation_is_the_derivations_latex():
    pytest.importorskip("IPython")
    math = notebook.equation("Conv2d", "gamma")
    assert math.data == r"\text{Conv2d:}\quad " + convops.derive("Conv2d").latex("gamma")
    with pytest.raises(ValueError, match="quantity"):
        notebook.equation("Conv2d", "nope")


def test_parameters_lists_every_symbol_with_torchs_values():
    module = torch.nn.Conv1d(2, 3, 4, padding="same")
    table = notebook.parameters(module, (5, 2, 9))
    values = {row[1]: row[2] for row in table.rows}
    assert values["batch size (1 for unbatched input)"] == "5"
    assert values["output size along L (y.shape[-1])"] == "9"
    assert values["padding[0]"] == "1+2"  # 'same' with an even kernel pads one more after
    transposed = notebook.parameters(torch.nn.ConvTranspose2d(2, 2, 3, output_padding=0), (2, 4, 4))
    assert any(row[1] == "output_padding[1]" for row in transposed.rows)


def test_sweep_counts_each_module():
    counts = notebook.sweep(lambda k: torch.nn.Conv1d(2, 2, k), [1, 3], (1, 2, 8))
    assert counts == [convops.count_ops(torch.nn.Conv1d(2, 2, k), (1, 2, 8)) for k in (1, 3)]


def test_plot_style_is_transparent_and_applies():
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    style = figures.plot_style()
    assert style["figure.facecolor"] == "none" and style["savefig.transparent"]
    with matplotlib.rc_context(style):
        fig = Figure()
        ax = fig.subplots()
        figures.style_axes(ax)
        assert fig.get_facecolor()[3] == 0 and ax.get_facecolor()[3] == 0


def test_symbol_values_make_the_formulas_give_the_counts():
    module, shape = torch.nn.Conv1d(2, 3, 4, padding="same", dilation=1), (2, 9)
    values = notebook.symbol_values(module, shape)
    d = convops.derive("Conv1d")
    assert values[d.symbols.p[0]] == sympy.Rational(3, 2)  # torch pads 1 before, 2 after
    assert d.output_size[0].subs(values) == 9
    assert d.total.subs(values) == d.simplified(True).subs(values) == convops.count_ops(module, shape)


def test_step_displays_the_equation_then_the_table(monkeypatch):
    display = pytest.importorskip("IPython.display")
    shown = []
    monkeypatch.setattr(display, "display", lambda *objs: shown.extend(objs))
    module, shape = LAYERS[2]
    notebook.step(module, shape, "output_size_1")
    math, table = shown
    assert math.data == r"\text{Conv2d:}\quad " + convops.derive("Conv2d").latex("output_size_1")
    assert [row[0] for row in table.rows] == ["output shape"] and table.all_equal


def test_plot_sweeps_draws_one_panel_per_parameter():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    def make(kernel_size=3, stride=1):
        return torch.nn.Conv1d(2, 2, kernel_size, stride)

    fig = notebook.draw_sweeps(make, (1, 2, 12), {"kernel_size": [1, 3], "stride": [1, 2]})
    try:
        assert len(fig.axes) == 2
        total, multiplications, flops = fig.axes[0].lines
        assert list(flops.get_ydata()) == list(multiplications.get_ydata())
    finally:
        plt.close(fig)
    shown = notebook.plot_sweeps(make, (1, 2, 12), {"kernel_size": [1, 3], "stride": [1, 2]})
    html = shown._repr_html_()
    assert 'alt="2 panels' in html and "Conv1d(2, 2" in shown.alt and "<figcaption>" in html
    assert shown.svg == notebook.plot_sweeps(make, (1, 2, 12), {"kernel_size": [1, 3], "stride": [1, 2]}).svg


def test_figures_need_alt_text():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    with pytest.raises(ValueError, match="alt"):
        figures.figure(plt.figure(), " ", "caption")


def test_layers_table_has_one_checked_line_per_layer():
    table = notebook.layers_table(LAYERS[:2], rows=("psi", "flop_counter"))
    assert table.header == ("layer", "input", "ψ (filters)", "multiplications = FlopCounterMode / 2")
    assert len(table.rows) == 2 and all(cell.endswith("✓") for row in table.rows for cell in row[2:])
    with pytest.raises(ValueError, match="unknown"):
        notebook.layers_table(LAYERS[:1], rows=("x",))


def test_tables_show_their_verdicts_first():
    """A ✓ column is shown first (HTML, Markdown, text), where a narrow page cannot hide it."""
    table = notebook.Table(("quantity", "value", ""), (("ψ", "4", "✓"), ("λ", "9", "✗")))
    shown = table._repr_html_()
    assert shown.index(">✓</td>") < shown.index(">ψ</td>")
    assert table._repr_markdown_().splitlines()[2] == "| ✓ | ψ | 4 |"
    assert repr(table).splitlines()[1].startswith("✓")
    assert table.rows[0] == ("ψ", "4", "✓")


def test_verification_tables_say_how_they_measured_once():
    """"measured by" is the caption where it is the same for every row; every row names the
    layer it checks, for the site's count of verified layers."""
    module, shape = LAYERS[0]
    table = notebook.comparison(module, shape, rows=("multiplications", "total"))
    assert table.header == ("quantity", "convops", "torch", "")
    assert table.caption.endswith("; torch measured by: instrumented run")
    assert table.layers == (notebook.describe_layer(module, shape),) * 2
    assert table._repr_html_().count('data-verdict="✓"') == 2
    mixed = notebook.comparison(module, shape, rows=("psi", "lam"))
    assert "measured by" in mixed.header


def test_rows_are_labelled_by_what_varies():
    modes = ("zeros", "reflect")
    cases = [(torch.nn.Conv2d(4, 4, 3, padding=2, padding_mode=m), (1, 4, 6, 6)) for m in modes]
    table = notebook.layers_table(cases, rows=("total",))
    assert [row[0] for row in table.rows] == ["padding_mode=zeros", "padding_mode=reflect"]
    assert table.header == ("layer", "total")
    assert table.caption == ("Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2)) "
                             "on input (1, 4, 6, 6)")
    mixed = notebook.layers_table(LAYERS[:2], rows=("total",))
    assert [row[0] for row in mixed.rows] == [repr(m) for m, _ in LAYERS[:2]]
    assert mixed.header[:2] == ("layer", "input")


def test_a_row_that_disagrees_is_marked():
    table = notebook.Table(("layer", "total"), (("a", "1 ✓"), ("b", "2 ≠ 3")), layers=("a", "b"))
    assert 'data-layer="b" data-verdict="✗"' in table._repr_html_()
