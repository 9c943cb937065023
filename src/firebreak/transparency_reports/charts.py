"""Charts as inline SVG: no script, no stylesheet of their own, nothing fetched (pages run under a strict CSP).

Colours and sizes are SVG presentation attributes, which a Content-Security-Policy without 'unsafe-inline' allows
(inline ``style`` attributes it would block). Each chart has a title and a text alternative for screen readers; the
same numbers are always in a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR = "#2f5d8a"
TRACK = "#e6ebf1"
TEXT = "#1d2733"


def bar_chart(title: str, rows: Sequence[tuple[str, float]], *, unit: str = "", width: int = 640,
              limit: int = 12) -> Markup:
    """Horizontal bars, one per row (largest first as given), at most ``limit`` with the rest summed as "other"."""
    shown = list(rows[:limit])
    if len(rows) > limit:
        shown.append(("other", sum(v for _, v in rows[limit:])))
    if not shown:
        return Markup('<p class="muted">Nothing to show for this period.</p>')
    label_w, value_w, bar_h, gap, top = 200, 70, 20, 8, 30
    plot_w = width - label_w - value_w
    height = top + len(shown) * (bar_h + gap)
    peak = max(v for _, v in shown) or 1
    described = "; ".join(f"{label}: {_number(value)}{unit}" for label, value in shown)
    parts = [Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {w} {h}" '
                    'width="{w}" height="{h}" aria-label="{label}"><title>{title}</title>').format(
        w=width, h=height, label=f"{title}. {described}", title=title),
        Markup('<text x="0" y="18" font-size="14" font-weight="bold" fill="{c}">{t}</text>').format(c=TEXT, t=title)]
    for i, (label, value) in enumerate(shown):
        y = top + i * (bar_h + gap)
        length = max(1.0, plot_w * value / peak) if value else 0.0
        parts.append(Markup(
            '<text x="{lx}" y="{ty}" font-size="12" text-anchor="end" fill="{c}">{label}</text>'
            '<rect x="{x}" y="{y}" width="{pw}" height="{h}" fill="{track}"/>'
            '<rect x="{x}" y="{y}" width="{bw:.1f}" height="{h}" fill="{bar}"/>'
            '<text x="{vx}" y="{ty}" font-size="12" fill="{c}">{value}{unit}</text>').format(
            lx=label_w - 8, ty=y + bar_h - 5, c=TEXT, label=_short(label), x=label_w, y=y, pw=plot_w, h=bar_h,
            track=TRACK, bw=length, bar=BAR, vx=label_w + plot_w + 6, value=_number(value), unit=unit))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _short(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


__all__ = ["bar_chart", "escape"]
