"""The periodic 平安 report (ARCHITECTURE.md §10): HTML by jinja2, PDF by headless Chromium.

Everything is inline — charts and maps are SVG, styles in the page, no script, no web
font (the system's CJK font renders the text) — so the page makes no request at all
and prints the same offline.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from jinja2 import Environment, StrictUndefined, select_autoescape
from sqlalchemy import Engine

from geo.cases import svg
from geo.cases.answers import CaseService
from geo.cases.figures import METHOD as CASE_METHOD
from geo.cases.figures import Window, from_us, summary, to_us
from geo.cases.lights import warnings
from geo.cases.period import Period
from geo.errors import InvalidInput, NotEnoughData, OnemapError
from geo.hotspots.runtime import HotspotService

RISK_NAMES = {"none": "无", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
TREND_PERIODS = 6
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def _env(tz: str = "Asia/Shanghai") -> Environment:
    env = Environment(autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}%"
    env.filters["num"] = lambda v, d=1: "–" if v is None else f"{v:,.{d}f}"
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+.1f}"
    env.filters["risk"] = lambda v: RISK_NAMES.get(v, v)
    env.filters["local"] = lambda v: datetime.fromisoformat(v).astimezone(
        ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return env


def _window(p: Period) -> Window:
    return Window(to_us(p.start), to_us(p.end), min(to_us(p.end), to_us(datetime.now(UTC))))


def _city(cases, p: Period) -> dict | None:
    try:
        return summary(cases, "city", _window(p))["units"][0]
    except NotEnoughData:
        return None


def _hotspot_map(hotspots: HotspotService, p: Period, outlines: list) -> tuple[str, str]:
    """Gi* hot and cold cells of the period over the community outlines (or why not)."""
    import h3

    from geo.hotspots import analyses
    from geo.hotspots.params import hotspot_query

    try:
        r = analyses.hotspots(hotspots, hotspot_query(hotspots.settings,
                                                      from_=p.start.isoformat(),
                                                      to=p.end.isoformat()))
    except OnemapError as exc:
        return "", f"热点分析未完成：{exc.detail}"
    frame = r.frame()
    cells = frame[frame["bin"] != 0]
    shapes = [(g, "#eeeeee", "") for g in outlines]
    for h, b, z in zip(cells["h3"], cells["bin"], cells["gi_z"], strict=True):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(h))
                                                               if not isinstance(h, str) else h)]
        shapes.append(({"type": "Polygon", "coordinates": [ring + ring[:1]]},
                       svg.BIN_COLOURS[int(b)], f"{h} Gi* z={z:.2f}"))
    legend = {"热点99%": svg.BIN_COLOURS[3], "热点95%": svg.BIN_COLOURS[2],
              "热点90%": svg.BIN_COLOURS[1], "冷点": svg.BIN_COLOURS[-2]}
    note = (f"Gi* 热点（H3 {r.parameters.get('res', 9)} 级，FDR 校正），"
            f"热点 {int((cells['bin'] > 0).sum())} 个、冷点 {int((cells['bin'] < 0).sum())} 个")
    return svg.choropleth(shapes, title="热点分布", legend=legend), note


def build_context(engine: Engine, service: CaseService, hotspots: HotspotService,
                  period: str) -> dict:
    """Every figure the report shows."""
    tz = service.settings.timezone
    p = Period.parse(period, tz)
    cases = service.cases.get(engine)
    city = _city(cases, p)
    if city is None:
        raise NotEnoughData(f"no cases were received in {p.key}; no report")
    w = _window(p)
    index = service.index(engine, "community", p.key)
    units = sorted((f["properties"] for f in index["features"]), key=lambda u: u["rank"])
    outlines = []
    shapes = []
    for u in units:
        text = service.units.outline(engine, "community", u["code"])
        if text:
            geom = orjson.loads(text)
            outlines.append(geom)
            shapes.append((geom, svg.RISK_COLOURS[u["level"]],
                           f"{u['name']} 平安指数 {u['index']:.1f}"))
    legend = {f"{RISK_NAMES[k]}预警" if k != "none" else "无预警": c
              for k, c in svg.RISK_COLOURS.items()}
    index_map = svg.choropleth(shapes, title="各社区平安指数与预警等级", legend=legend)
    hot_map, hot_note = _hotspot_map(hotspots, p, outlines)
    depts = summary(cases, "city", w, "department")["units"]
    depts = sorted(depts, key=lambda d: (d["satisfaction_rate"] is None,
                                         -(d["satisfaction_rate"] or 0)))
    lights = warnings(cases, "city", w.at, limit=500, light="red")
    overdue: dict[str, list] = {}
    for f in lights["cases"]["features"]:
        q = f["properties"]
        overdue.setdefault(q["department"] or "未派单", []).append(q)
    overdue_rows = sorted(((d, rows[:8], len(rows)) for d, rows in overdue.items()),
                          key=lambda t: -t[2])
    trend = [p.shift(-k) for k in range(TREND_PERIODS - 1, -1, -1)]
    figures = [_city(cases, q) for q in trend]
    labels = [q.key[5:] if q.kind == "month" else q.key[5:] for q in trend]
    city_index = []
    for q in trend:
        try:
            city_index.append(service.index(engine, "city", q.key)["features"][0]
                              ["properties"]["index"])
        except OnemapError:
            city_index.append(None)
    charts = {
        "received": svg.bars(labels, [f["received"] if f else 0 for f in figures],
                             title="受理量（件）"),
        "rates": svg.lines(labels, {
            "办结率": [f["closure_rate"] if f else None for f in figures],
            "按时办结率": [f["on_time_rate"] if f else None for f in figures],
            "满意率": [f["satisfaction_rate"] if f else None for f in figures]},
            title="办结率、按时办结率与满意率"),
        "index": svg.lines(labels, {"全市平安指数": city_index}, title="全市平安指数",
                           lo=0, hi=100, fmt="{:.0f}"),
    }
    levels = {k: sum(1 for u in units if u["level"] == k) for k in svg.RISK_COLOURS}
    return {"period": p, "generated": datetime.now(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
            "at": from_us(w.at).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
            "city": city, "units": units, "levels": levels, "index_map": index_map,
            "hot_map": hot_map, "hot_note": hot_note, "departments": depts,
            "overdue": overdue_rows, "red_total": lights["cases"]["numberMatched"],
            "charts": charts, "method": index["method"], "weights": index["weights"],
            "left_out": index["left_out"], "case_method": CASE_METHOD,
            "risk_colours": svg.RISK_COLOURS}


def render_html(engine: Engine, service: CaseService, hotspots: HotspotService,
                period: str) -> str:
    """The report as one self-contained HTML page."""
    ctx = build_context(engine, service, hotspots, period)
    text = (files("geo.cases") / "report_template.html").read_text(encoding="utf-8")
    return _env(service.settings.timezone).from_string(text).render(**ctx)


def find_chromium() -> str:
    """The headless browser the project installs."""
    for name in CHROMIUM:
        path = shutil.which(name) or (name if Path(name).exists() else None)
        if path:
            return path
    raise InvalidInput("no Chromium found for PDF output (install it with `make setup`)")


def html_to_pdf(html: str, out: Path, timeout_s: float = 120.0) -> Path:
    """Print ``html`` to ``out`` with headless Chromium (A4, backgrounds, no header)."""
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="onemap-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer",
               f"--print-to-pdf={out}", page.as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0 or not Path(out).exists() or Path(out).stat().st_size == 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InvalidInput(f"Chromium could not print the report: {tail[0]}")
    return Path(out)


def write_report(engine: Engine, period: str, out: Path, service: CaseService,
                 hotspots: HotspotService) -> Path:
    """Write the report of ``period`` to ``out`` (.html or .pdf)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise InvalidInput(f"--out must end with .html or .pdf, not {out.name!r}")
    if not out.parent.exists():
        raise InvalidInput(f"folder {out.parent} does not exist")
    html = render_html(engine, service, hotspots, period)
    if suffix == ".html":
        out.write_text(html, encoding="utf-8")
        return out
    return html_to_pdf(html, out)
