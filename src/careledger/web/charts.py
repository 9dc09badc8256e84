"""Small server-side SVG plots: no JavaScript, no chart library, readable by screen readers.

Each plot is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` that say in words what
the plot shows (the page also prints the numbers in a table for those who prefer them). Every
piece of text is escaped here; :func:`careledger.web.render.svg` marks the result safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 160, 28
BAR = "#1f5f99"
AXIS = "#444"


def _frame(title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" aria-labelledby="t-{id(body)} d-{id(body)}">'
        f'<title id="t-{id(body)}">{escape(title)}</title>'
        f'<desc id="d-{id(body)}">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _axes(label_x: str, top: str) -> list[str]:
    return [
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 4}" y2="{HEIGHT - PAD}" '
        f'stroke="{AXIS}"/>',
        f'<line x1="{PAD}" y1="4" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="{AXIS}"/>',
        f'<text x="{WIDTH // 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11" '
        f'fill="{AXIS}">{escape(label_x)}</text>',
        f'<text x="{PAD - 4}" y="14" text-anchor="end" font-size="11" fill="{AXIS}">'
        f"{escape(top)}</text>",
    ]


def bars(title: str, labels: Sequence[str], values: Sequence[float], unit: str) -> str:
    """A bar per value (e.g. transactions per block), labelled first and last on the x axis."""
    peak = max(values, default=0) or 1
    n = max(len(values), 1)
    step = (WIDTH - PAD - 8) / n
    body = _axes(f"{labels[0]} … {labels[-1]}" if labels else "no data", f"{peak:g}")
    for i, value in enumerate(values):
        h = (HEIGHT - PAD - 8) * value / peak
        x = PAD + 2 + i * step
        body.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{escape(labels[i])}: {value:g} {escape(unit)}'
            "</title></rect>"
        )
    total = sum(values)
    desc = f"{len(values)} bars, highest {peak:g} {unit}, total {total:g} {unit}"
    return _frame(title, desc, body)


def timeline(title: str, labels: Sequence[str], seconds: Sequence[float]) -> str:
    """A line of the time between consecutive blocks (seconds), one point per block."""
    peak = max(seconds, default=0) or 1
    n = max(len(seconds) - 1, 1)
    step = (WIDTH - PAD - 8) / n
    points = " ".join(
        f"{PAD + 2 + i * step:.1f},{HEIGHT - PAD - (HEIGHT - PAD - 8) * s / peak:.1f}"
        for i, s in enumerate(seconds)
    )
    body = _axes(f"{labels[0]} … {labels[-1]}" if labels else "no data", f"{peak:.2f} s")
    if points:
        body.append(f'<polyline points="{points}" fill="none" stroke="{BAR}" stroke-width="2"/>')
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    desc = f"{len(seconds)} intervals, longest {peak:.2f} s, mean {mean:.2f} s"
    return _frame(title, desc, body)
