"""Small inline SVG charts and maps for the printable report (no scripts, no fonts fetched).

Examples
--------
>>> svg = bars(["一月", "二月"], [3, 5], title="受理")
>>> svg.startswith("<svg") and "二月" in svg
True
"""

from __future__ import annotations

import math
from html import escape

RISK_COLOURS = {"none": "#d9d9d9", "blue": "#2b7bd6", "yellow": "#f2c12e",
                "orange": "#f07f1a", "red": "#d62728"}
BIN_COLOURS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7", -1: "#d1e5f0",
               -2: "#67a9cf", -3: "#2166ac"}


def _num(v: float) -> str:
    return f"{v:.1f}"


def bars(labels: list[str], values: list[float], *, title: str = "", width: int = 520,
         height: int = 200, colour: str = "#2b7bd6", fmt: str = "{:.0f}") -> str:
    """A vertical bar chart."""
    top = max([v for v in values if v is not None] + [1e-9])
    pad_l, pad_b, pad_t = 36, 28, 22
    w = (width - pad_l - 8) / max(len(values), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    base = height - pad_b
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        v = v or 0
        h = (base - pad_t) * v / top
        x = pad_l + i * w
        out.append(f'<rect x="{_num(x + 2)}" y="{_num(base - h)}" width="{_num(w - 4)}" '
                   f'height="{_num(h)}" fill="{colour}"/>')
        out.append(f'<text x="{_num(x + w / 2)}" y="{_num(base - h - 3)}" font-size="9" '
                   f'text-anchor="middle">{escape(fmt.format(v))}</text>')
        out.append(f'<text x="{_num(x + w / 2)}" y="{base + 14}" font-size="9" '
                   f'text-anchor="middle">{escape(str(lab))}</text>')
    out.append(f'<line x1="{pad_l}" y1="{base}" x2="{width - 8}" y2="{base}" stroke="#555"/>')
    out.append("</svg>")
    return "".join(out)


def lines(labels: list[str], series: dict[str, list[float | None]], *, title: str = "",
          width: int = 520, height: int = 200, lo: float = 0.0, hi: float = 1.0,
          fmt: str = "{:.0%}") -> str:
    """A line chart of a few series sharing the axis ``lo``..``hi``."""
    palette = ["#2b7bd6", "#d62728", "#2ca02c", "#9467bd", "#f07f1a"]
    pad_l, pad_b, pad_t, pad_r = 40, 28, 22, 110
    n = max(len(labels) - 1, 1)
    sx = (width - pad_l - pad_r) / n
    base = height - pad_b

    def y(v):
        return base - (base - pad_t) * (v - lo) / ((hi - lo) or 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    for t in (lo, (lo + hi) / 2, hi):
        out.append(f'<line x1="{pad_l}" y1="{_num(y(t))}" x2="{width - pad_r}" y2="{_num(y(t))}" '
                   f'stroke="#ddd"/><text x="{pad_l - 4}" y="{_num(y(t) + 3)}" font-size="9" '
                   f'text-anchor="end">{escape(fmt.format(t))}</text>')
    for i, lab in enumerate(labels):
        out.append(f'<text x="{_num(pad_l + i * sx)}" y="{base + 14}" font-size="9" '
                   f'text-anchor="middle">{escape(str(lab))}</text>')
    for k, (name, values) in enumerate(series.items()):
        colour = palette[k % len(palette)]
        pts = [f"{_num(pad_l + i * sx)},{_num(y(v))}" for i, v in enumerate(values)
               if v is not None]
        if pts:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                       f'points="{" ".join(pts)}"/>')
        out.append(f'<rect x="{width - pad_r + 8}" y="{pad_t + k * 16}" width="10" height="10" '
                   f'fill="{colour}"/><text x="{width - pad_r + 22}" y="{pad_t + k * 16 + 9}" '
                   f'font-size="10">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _rings(geom: dict) -> list[list[list[float]]]:
    if geom["type"] == "Polygon":
        return geom["coordinates"]
    if geom["type"] == "MultiPolygon":
        return [ring for poly in geom["coordinates"] for ring in poly]
    return []


def choropleth(shapes: list[tuple[dict, str, str]], *, title: str = "", width: int = 520,
               height: int = 400, legend: dict[str, str] | None = None) -> str:
    """Polygons (GeoJSON geometry, fill colour, label) drawn in lon/lat (north up)."""
    xs = [p[0] for g, _, _ in shapes for r in _rings(g) for p in r]
    ys = [p[1] for g, _, _ in shapes for r in _rings(g) for p in r]
    if not xs:
        return ""
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    kx = math.cos(math.radians((y0 + y1) / 2))
    pad_t = 22
    scale = min((width - 10) / max((x1 - x0) * kx, 1e-9),
                (height - pad_t - 30) / max(y1 - y0, 1e-9))

    def pt(p):
        return f"{_num(5 + (p[0] - x0) * kx * scale)},{_num(pad_t + (y1 - p[1]) * scale)}"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="5" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    for geom, fill, label in shapes:
        d = " ".join("M" + " L".join(pt(p) for p in ring) + " Z" for ring in _rings(geom))
        out.append(f'<path d="{d}" fill="{fill}" stroke="#fff" stroke-width="0.6">'
                   f"<title>{escape(label)}</title></path>")
    for k, (name, colour) in enumerate((legend or {}).items()):
        x = 5 + k * 90
        out.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{height - 7}" font-size="10">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
