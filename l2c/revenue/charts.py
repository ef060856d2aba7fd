"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched, readable by a screen reader
(`role="img"` with a <title> and a <desc> naming every value) and printable.

`bar_chart` draws one or more series of bars per category (months) from a zero line, so negative values
(a credit note, churn) go below it. Every text is escaped; the result is safe to put in a template.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# colour-blind safe (Okabe–Ito)
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[Decimal]


def _nice_step(span: Decimal) -> Decimal:
    """A round step (1, 2 or 5 × 10^n) that splits `span` into about four parts."""
    if span <= 0:
        return Decimal(1)
    raw = span / 4
    exponent = raw.adjusted()
    base = Decimal(10) ** exponent
    for factor in (1, 2, 5, 10):
        if raw <= base * factor:
            return base * factor
    return base * 10


def _label(value: Decimal) -> str:
    value = Decimal(value)
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}"


def bar_chart(*, title: str, categories: list[str], series: list[Series], description: str = "",
              width: int = 720, height: int = 260) -> SafeString:
    """An SVG bar chart: `categories` along the bottom, one bar per series in each, a legend above."""
    uid = f"revchart{next(_ids)}"
    values = [Decimal(v) for s in series for v in s.values] or [Decimal(0)]
    top, bottom = max(max(values), Decimal(0)), min(min(values), Decimal(0))
    step = _nice_step(top - bottom)
    top = (top / step).to_integral_value(rounding="ROUND_CEILING") * step if top else Decimal(0)
    bottom = (bottom / step).to_integral_value(rounding="ROUND_FLOOR") * step if bottom else Decimal(0)
    if top == bottom:
        top = step
    left, right, head, foot = 64, 12, 34, 28
    plot_w, plot_h = width - left - right, height - head - foot

    def y(value) -> float:
        return head + float((top - Decimal(value)) / (top - bottom)) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="revenue-chart" role="img" viewBox="0 0 {width} {height}"'
             f' width="100%" preserveAspectRatio="xMidYMid meet" aria-labelledby="{uid}-t {uid}-d">',
             f'<title id="{uid}-t">{escape(title)}</title>']
    summary = "; ".join(f"{escape(s.name)}: " + ", ".join(f"{escape(c)} {v}" for c, v in zip(categories, s.values,
                                                                                             strict=False))
                        for s in series)
    parts.append(f'<desc id="{uid}-d">{escape(description)} {summary}</desc>')
    # grid and axis labels
    tick = bottom
    while tick <= top:
        ty = y(tick)
        stroke = 'stroke="#888" stroke-width="1.5"' if tick == 0 else 'stroke="#ddd"'
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" {stroke}/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                     f'{escape(_label(tick))}</text>')
        tick += step
    # bars
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    zero = y(0)
    for i, category in enumerate(categories):
        x0 = left + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = Decimal(s.values[i]) if i < len(s.values) else Decimal(0)
            if not value:
                continue
            vy = y(value)
            parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{min(vy, zero):.1f}" width="{bar_w - 1:.1f}" '
                         f'height="{abs(zero - vy):.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                         f'<title>{escape(s.name)} {escape(category)}: {value}</title></rect>')
        every = max(1, n // 12)
        if i % every == 0:
            parts.append(f'<text x="{left + (i + 0.5) * group_w:.1f}" y="{height - 10}" text-anchor="middle" '
                         f'font-size="11" fill="#555">{escape(category)}</text>')
    # legend
    x = left
    for j, s in enumerate(series):
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[j % len(COLOURS)]}"/>'
                     f'<text x="{x + 16}" y="18" font-size="12" fill="#222">{escape(s.name)}</text>')
        x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
