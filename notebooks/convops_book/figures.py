"""Figures as the pages show them: SVG with alt text and a caption, in colours that read in the
light and the dark theme."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A figure as the pages show it: an SVG (transparent, readable in light and dark themes)
    with its alt text and caption, in a ``<figure>``.  Jupyter shows the HTML; its text form is
    the alt text.  Unlike the inline backend's PNG, it carries no ``needs_background`` (which
    puts a dark box behind a figure in a light theme), and its SVG is the same on every run."""

    svg: str
    alt: str
    caption: str
    width: int  #: the width to display it at, in CSS pixels (its natural width)

    def _repr_html_(self) -> str:
        import base64

        data = base64.b64encode(self.svg.encode()).decode()
        # Never narrower than 3/4 of its natural width (its 10 pt labels stay >= 10 px): on a
        # phone the figure scrolls sideways instead.
        return (f'<figure class="convops-figure" style="overflow-x:auto;margin:0">'
                f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(self.alt)}" '
                f'style="width:100%;max-width:{self.width}px;min-width:{self.width * 3 // 4}px">'
                f"<figcaption>{html.escape(self.caption)}</figcaption></figure>")

    def __repr__(self) -> str:
        return f"Figure: {self.alt}"


def figure(fig, alt: str, caption: str) -> Figure:
    """``fig`` (a matplotlib figure, then closed) as a :class:`Figure` with ``alt`` and ``caption``.

    Raises ``ValueError`` for an empty ``alt``: every figure says what it shows.
    """
    import io

    import matplotlib.pyplot as plt

    if not alt.strip():
        raise ValueError("alt must describe the figure, got an empty text")
    buffer = io.StringIO()
    with matplotlib_rc({"svg.hashsalt": "convops", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", transparent=True, metadata={"Date": None})
    width = round(fig.get_figwidth() * 96)
    plt.close(fig)
    return Figure(buffer.getvalue(), alt, caption, width)


def matplotlib_rc(settings: dict):
    """``matplotlib.rc_context(settings)``, importing matplotlib only when called."""
    import matplotlib

    return matplotlib.rc_context(settings)


#: Mid-tone colours that read on white and on near-black backgrounds.
COLORS = ("#4c8dd6", "#e07b39", "#3fa66b", "#b565c9", "#c9a227")
_GREY = "#8a8a8a"


def plot_style() -> dict:
    """matplotlib rc settings for figures readable in light and dark themes.

    Transparent figure and axes, grey text, ticks and spines, mid-tone colour cycle.  Use as
    ``with matplotlib.rc_context(convops_book.figures.plot_style()): ...``.
    """
    from cycler import cycler

    return {
        "figure.facecolor": "none", "axes.facecolor": "none", "savefig.transparent": True,
        "text.color": _GREY, "axes.labelcolor": _GREY, "axes.edgecolor": _GREY,
        "xtick.color": _GREY, "ytick.color": _GREY, "axes.titlecolor": _GREY,
        "grid.color": _GREY, "grid.alpha": 0.3, "axes.grid": True,
        "legend.frameon": False, "legend.labelcolor": _GREY,
        "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=COLORS), "lines.linewidth": 2, "lines.markersize": 6,
        "svg.hashsalt": "convops", "figure.dpi": 100, "font.size": 10,
    }


def style_axes(ax) -> None:
    """Apply the grey, transparent look of :func:`plot_style` to an existing ``Axes``."""
    ax.set_facecolor("none")
    ax.figure.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_color(_GREY)
    ax.tick_params(colors=_GREY)
    ax.xaxis.label.set_color(_GREY)
    ax.yaxis.label.set_color(_GREY)
    ax.title.set_color(_GREY)
