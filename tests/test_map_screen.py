"""The command centre's screen in real headless Chromium on the small demo: every clickable
layer opens its popup, figures follow the filter that produced them, empty windows show an
empty state, filters live in the URL, search, statistics and export, the planner's flow and
the widget's shaded cells. Screenshots for README are written to ``docs/screenshots``.

Each test opens its own page on a module server (``test_map_browser``'s helpers); the
widget test runs last (once a key exists the server requires keys).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import h3
import httpx
import pytest
from conftest import ROOT, clone_database, drop_database
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, text
from test_map_browser import (
    Server,
    Watched,
    browser,  # noqa: F401, F811  (fixture)
    demo,  # noqa: F401  (fixture)
    demo_engine,  # noqa: F401  (fixture)
    drawn,
    off_host,
    open_page,
    set_overlay,
    start_server,
    stop_server,
    wait_drawn,
    zoom_to,
)

from geo.db.engine import make_engine
from geo.settings import DatabaseSettings

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "screenshots"
CLICK_AT = """([lat, lon]) => { const p = onemap.map.latLngToContainerPoint([lat, lon]);
  const r = onemap.map.getContainer().getBoundingClientRect();
  return [r.left + p.x, r.top + p.y]; }"""


@pytest.fixture(scope="module")
def server(demo: DatabaseSettings) -> Iterator[Server]:  # noqa: F811
    assert demo.database_url
    s = start_server(demo.database_url, ROOT / "data" / "screenshots" / "server-screen.log")
    yield s
    stop_server(s)


def clean(w: Watched, server: Server) -> None:
    """Nothing failed, nothing logged an error, nothing left the host."""
    assert w.errors == [], w.errors
    assert w.failed == [], w.failed
    assert off_host(w, server.host) == []


def click_map(page: Page, lat: float, lon: float) -> None:
    x, y = page.evaluate(CLICK_AT, [lat, lon])
    page.mouse.click(x, y)


def popup_text(page: Page) -> str:
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    return page.inner_text(".leaflet-popup-content")


def close_popup(page: Page) -> None:
    page.evaluate("onemap.map.closePopup()")


def only(page: Page, keys: tuple[str, ...]) -> None:
    for key in page.eval_on_selector_all(".leaflet-control-layers-overlays span[data-layer]",
                                         "els => els.map(e => e.dataset.layer)"):
        set_overlay(page, key, key in keys)


# --- 1. every clickable layer opens its popup without a page error ----------------------
def test_every_clickable_layer_opens_its_popup(server: Server, browser: Browser,  # noqa: F811
                                               demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=90")
    page = w.page
    with demo_engine.connect() as conn:
        cam = conn.execute(text(
            "SELECT code, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM cameras "
            "ORDER BY id LIMIT 1")).mappings().one()
        place = conn.execute(text(
            "SELECT name, ST_X(ST_PointOnSurface(geom)) AS lon, "
            "ST_Y(ST_PointOnSurface(geom)) AS lat FROM places WHERE key ORDER BY id LIMIT 1")
                             ).mappings().one()
        inc = conn.execute(text(
            "SELECT category, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incidents "
            "WHERE occurred_at > (SELECT max(occurred_at) - interval '30 days' FROM incidents) "
            "ORDER BY id LIMIT 1")).mappings().one()
        # Deep inside a community, far from its outline.
        com = conn.execute(text("""
            SELECT name, ST_X(p) AS lon, ST_Y(p) AS lat FROM (
              SELECT name, ST_PointOnSurface(ST_Buffer(geom::geography, -120)::geometry) AS p
              FROM admin_areas WHERE level = 'community' ORDER BY code LIMIT 1) q""")
                          ).mappings().one()
        bld = conn.execute(text("""
            SELECT b.kind, ST_X(p) AS lon, ST_Y(p) AS lat FROM buildings b
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS p) q
            WHERE b.kind = 'low_rise' AND GeometryType(b.geom) IN ('POLYGON', 'MULTIPOLYGON')
            ORDER BY ST_Area(b.geom) DESC LIMIT 1""")).mappings().one()
        grid = conn.execute(text("""
            SELECT a.name AS community, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM grids g JOIN grid_plans gp ON gp.id = g.plan_id AND gp.status = 'active'
            JOIN admin_areas a ON a.code = g.community_code
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS p) q
            ORDER BY g.code LIMIT 1""")).mappings().one()
    zh = {"dispute": "矛盾纠纷", "public_order": "治安", "hazard": "安全隐患",
          "livelihood": "民生诉求", "city_management": "城市管理", "other": "其他"}
    cases = [
        (("cameras",), cam, 18, cam["code"]),
        (("places",), place, 18, place["name"]),
        (("incidents",), inc, 18, zh[inc["category"]]),
        (("admin_areas",), com, 16, com["name"]),
        (("buildings",), bld, 18, "低层住宅"),  # kinds and community codes read as words
        (("grids",), grid, 17, grid["community"]),
    ]
    for layers, where, zoom, expect in cases:
        only(page, layers)
        page.evaluate(f"onemap.map.setView([{where['lat']}, {where['lon']}], {zoom})")
        wait_drawn(page, layers[0])
        click_map(page, where["lat"], where["lon"])
        assert expect in popup_text(page), (layers, expect)
        close_popup(page)
    # Clusters at city zoom say how many of what.
    only(page, ("cameras",))
    zoom_to(page, 14)
    wait_drawn(page, "cameras")
    n = page.evaluate("onemap.overlays.cameras.featureCount()")
    with demo_engine.connect() as conn:
        assert n < conn.execute(text("SELECT count(*) FROM cameras")).scalar_one()
    clean(w, server)
    page.close()


# --- 3. figures follow their filter; empty windows; bad ranges; the URL ----------------
def _hot_cells_in_view(server: Server, page: Page) -> int:
    """Hot cells of the hotspot API for the page's filter, touching its view (by h3)."""
    p = page.evaluate("""() => { const f = onemap.filterParams(), b = onemap.cfg.bounds,
        v = onemap.map.getBounds();
      return {from: f.from, to: f.to, bbox: [b[0][1], b[0][0], b[1][1], b[1][0]].join(','),
              view: [v.getWest(), v.getSouth(), v.getEast(), v.getNorth()]}; }""")
    r = httpx.get(server.url + "/api/v1/hotspots", params={
        "res": 9, "significant_only": "true", "from": p["from"], "to": p["to"],
        "bbox": p["bbox"]}, timeout=60)
    x0, y0, x1, y1 = p["view"]
    n = 0
    for f in r.json()["features"]:
        if f["properties"]["bin"] <= 0:
            continue
        ring = h3.cell_to_boundary(f["properties"]["h3"])
        lats, lons = [a for a, _ in ring], [b for _, b in ring]
        if min(lons) <= x1 and max(lons) >= x0 and min(lats) <= y1 and max(lats) >= y0:
            n += 1
    return n


def _hot_ready(page: Page) -> None:
    page.wait_for_function("onemap.overlays.hotspots.status === 'ready' || "
                           "onemap.overlays.hotspots.status === 'empty'", timeout=60_000)
    page.wait_for_function("document.getElementById('om-sum-hot').textContent !== '…'")


def test_hot_cell_figure_follows_the_filter_that_produced_it(server: Server,
                                                             browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    set_overlay(page, "hotspots", True)
    page.click('button[data-days="90"]')
    _hot_ready(page)
    n90 = int(page.inner_text("#om-sum-hot").replace(",", ""))
    page.click('button[data-days="7"]')
    _hot_ready(page)
    n7 = int(page.inner_text("#om-sum-hot").replace(",", ""))
    truth7 = _hot_cells_in_view(server, page)
    assert truth7 != n90, "the demo should have different hot cells for 7 and 90 days"
    assert n7 == truth7
    page.click('button[data-days="90"]')
    _hot_ready(page)
    assert int(page.inner_text("#om-sum-hot").replace(",", "")) == n90 == \
        _hot_cells_in_view(server, page)
    clean(w, server)
    page.close()


def test_an_empty_window_shows_an_empty_state_and_clears_the_layers(
        server: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    zoom_to(page, 15)
    set_overlay(page, "hotspots", True)
    page.click('button[data-days="90"]')
    assert wait_drawn(page, "heatmap") > 0 and wait_drawn(page, "hotspots") > 0
    assert page.locator("#om-sum-empty").is_hidden()
    page.click('button[data-days="custom"]')
    page.fill("#om-from", "2020-01-01")
    page.fill("#om-to", "2020-01-31")
    page.click("#om-apply")
    page.wait_for_function("onemap.overlays.heatmap.status === 'empty' && "
                           "onemap.overlays.hotspots.status === 'empty'", timeout=30_000)
    page.wait_for_selector("#om-sum-empty", state="visible")
    assert page.inner_text("#om-sum-empty") == "所选时段与条件下没有事件"
    assert drawn(page, "heatmap") == 0 and drawn(page, "hotspots") == 0
    assert page.inner_text("#om-sum-hot") == "0" and page.inner_text("#om-sum-incidents") == "0"
    clean(w, server)
    page.close()


def test_a_from_after_to_is_refused_with_a_message(server: Server,
                                                   browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    before = page.evaluate("onemap.filterParams()")
    page.click('button[data-days="custom"]')
    page.fill("#om-from", "2026-10-20")
    page.fill("#om-to", "2026-10-01")
    page.click("#om-apply")
    assert page.inner_text("#om-filter-msg") == "起始日期不能晚于结束日期"
    assert page.evaluate("onemap.filterParams()") == before
    clean(w, server)
    page.close()


def test_filters_layers_and_view_live_in_the_url(server: Server,
                                                 browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    page.click('button[data-days="7"]')
    page.select_option("#om-category", "dispute")
    set_overlay(page, "incidents", True)
    set_overlay(page, "cameras", False)
    page.evaluate("onemap.map.setView([36.80, 118.05], 16)")
    page.wait_for_timeout(600)
    q = parse_qs(urlparse(page.url).query)
    assert q["days"] == ["7"] and q["category"] == ["dispute"] and q["z"] == ["16"]
    assert "incidents" in q["layers"][0].split(",") and "cameras" not in q["layers"][0]
    shared = page.url
    page.close()
    w2 = open_page(browser, shared)
    p2 = w2.page
    f = p2.evaluate("onemap.filter")
    assert f["days"] == 7 and f["category"] == "dispute"
    assert p2.input_value("#om-category") == "dispute"
    assert p2.evaluate("onemap.map.getZoom()") == 16
    on = p2.evaluate("Object.keys(onemap.overlays)"
                     ".filter(k => onemap.map.hasLayer(onemap.overlays[k]))")
    assert "incidents" in on and "cameras" not in on
    assert p2.locator('button[data-days="7"].om-active').count() == 1
    clean(w2, server)
    p2.close()


# --- 9. search ---------------------------------------------------------------------------
def test_search_finds_grid_camera_and_incident_and_opens_the_record(
        server: Server, browser: Browser, demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    with demo_engine.connect() as conn:
        grid = conn.execute(text(
            "SELECT g.code, g.worker FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
            "AND p.status = 'active' ORDER BY g.code DESC LIMIT 1")).mappings().one()
        cam = conn.execute(text("SELECT code, name FROM cameras ORDER BY id DESC LIMIT 1")
                           ).mappings().one()
        inc = conn.execute(text("SELECT external_id, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                                "FROM incidents ORDER BY id DESC LIMIT 1")).mappings().one()
    for query, kind, expect in ((grid["code"], "grid", grid["worker"]),
                                (cam["code"], "camera", cam["code"]),
                                (inc["external_id"], "incident", inc["external_id"])):
        page.fill("#om-search", query)
        hit = page.locator(f'.om-search-hit[data-kind="{kind}"][data-code="{query}"]')
        hit.wait_for(timeout=10_000)
        hit.click()
        assert expect in popup_text(page)
        if kind == "incident":
            c = page.evaluate("onemap.map.getCenter()")
            assert abs(c["lat"] - inc["lat"]) < 1e-4 and abs(c["lng"] - inc["lon"]) < 1e-4
        close_popup(page)
    page.fill("#om-search", "不存在的地名xyz")
    page.wait_for_selector(".om-search-none")
    clean(w, server)
    page.close()


# --- 7 and 10. statistics by area, export ------------------------------------------------
def test_statistics_sort_zoom_and_export_as_many_rows_as_the_api(
        server: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=90")
    page = w.page
    page.click("#om-tab-stats")
    page.click('.om-level[data-level="grid"]')
    page.wait_for_function("document.documentElement.dataset.statsRows > 0 && "
                           "onemap.panels.state.data.level === 'grid'", timeout=30_000)
    f = page.evaluate("onemap.filterParams()")
    api = httpx.get(server.url + "/map/stats", params={"level": "grid", "from": f["from"],
                                                       "to": f["to"]}, timeout=30).json()
    rows = page.locator("#om-stats-table tbody tr")
    assert rows.count() == api["count"] == len(api["units"])
    # Sorted by incidents, most first; a header click sorts by households.
    shown = [int(v.replace(",", "")) for v in
             page.locator('#om-stats-table tbody td[data-col="incidents"]').all_inner_texts()]
    assert shown == sorted((u["incidents"] for u in api["units"]), reverse=True)
    page.click('#om-stats-table th[data-col="households"]')
    hh = [int(v.replace(",", "")) for v in
          page.locator('#om-stats-table tbody td[data-col="households"]').all_inner_texts()]
    assert hh == sorted(hh, reverse=True)
    # A row click zooms to the grid and focuses it.
    top = max(api["units"], key=lambda u: u["households"])
    page.click(f'#om-stats-table tbody tr[data-code="{top["code"]}"]')
    b = page.evaluate("(() => { const b = onemap.map.getBounds(); "
                      "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")
    x0, y0, x1, y1 = top["bbox"]
    assert b[0] <= x0 and b[1] <= y0 and b[2] >= x1 and b[3] >= y1
    assert (b[2] - b[0]) < 4 * (x1 - x0) + 0.01
    assert top["name"] in page.inner_text("#om-focus")
    assert "focus=grid" in page.url
    # The focus comes back with the URL.
    again = open_page(browser, page.url)
    again.page.wait_for_function("document.getElementById('om-focus').textContent !== ''")
    assert top["name"] in again.page.inner_text("#om-focus")
    clean(again, server)
    again.page.close()
    # CSV of what is on screen: one line per unit of the API, plus the header.
    with page.expect_download() as dl:
        page.click("#om-export-csv")
    body = dl.value.path().read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) - 1 == api["count"]
    assert {r[-1] for r in table[1:]} == {u["code"] for u in api["units"]}
    with page.expect_download() as dl:
        page.click("#om-export-xls")
    assert dl.value.path().read_text(encoding="utf-8").count("<Row>") == api["count"] + 1
    with page.expect_download() as dl:
        page.click("#om-export-png")
    png = dl.value.path().read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    # For README: communities ranked, the busiest one focused.
    page.click('.om-level[data-level="community"]')
    page.wait_for_function("onemap.panels.state.data.level === 'community'", timeout=30_000)
    page.click('#om-stats-table th[data-col="incidents"]')
    page.locator("#om-stats-table tbody tr").first.click()
    page.evaluate("onemap.map.setZoom(onemap.map.getZoom() - 1, {animate: false})")
    wait_drawn(page, "grids")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "statistics.png"))
    clean(w, server)
    page.close()


def test_trends_follow_the_time_filter(server: Server, browser: Browser,  # noqa: F811
                                       demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    page.click("#om-tab-trend")
    page.click('button[data-days="90"]')
    page.wait_for_function("onemap.panels.state.trend && "
                           "new Date(onemap.panels.state.trend.from).getTime() === "
                           "new Date(onemap.filterParams().from).getTime()")
    f = page.evaluate("onemap.filterParams()")
    with demo_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM incidents WHERE occurred_at >= :a "
                              "AND occurred_at < :b"), {"a": f["from"], "b": f["to"]}).scalar()
    assert page.evaluate("onemap.panels.state.trend.total") == n
    assert page.inner_text('[data-figure="trend.total"]') == f"{n:,}"
    assert page.locator("#om-trend-chart polyline").count() == 6
    page.click('.om-by[data-value="source"]')
    page.wait_for_function("onemap.panels.state.trend.by === 'source'")
    assert page.locator("#om-trend-chart polyline").count() == 5
    clean(w, server)
    page.close()


def test_weekly_hotspots_play_back_and_restore_the_filter(server: Server,
                                                          browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=30")
    page = w.page
    before = page.evaluate("onemap.filterParams()")
    page.click("#om-tab-trend")
    page.click("#om-play")
    seen = set()
    deadline = time.monotonic() + 90
    while len(seen) < 3 and time.monotonic() < deadline:
        f = page.evaluate("onemap.filterParams()")
        if f["from"] != before["from"]:
            seen.add(f["from"])
            days = (page.evaluate("new Date(onemap.filter.to) - new Date(onemap.filter.from)")
                    / 864e5)
            assert days == 7
        page.wait_for_timeout(200)
    assert len(seen) >= 3, seen
    assert page.evaluate("onemap.map.hasLayer(onemap.overlays.hotspots)")
    page.click("#om-play")  # stop
    assert page.evaluate("onemap.filterParams()") == before
    clean(w, server)
    page.close()


# --- 13.17: a city with buildings and cameras but no incident ----------------------------
@pytest.fixture(scope="module")
def no_incidents(pg_server: DatabaseSettings, _small_demo_template) -> Iterator[Server]:
    template, _ = _small_demo_template
    name = f"{template}_noinc"
    settings = clone_database(pg_server, template, name)
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM incidents"))
    engine.dispose()
    log = ROOT / "data" / "screenshots" / "server-noinc.log"
    s = start_server(settings.database_url or "", log)
    yield s
    stop_server(s)
    drop_database(pg_server, name)


def test_a_city_without_incidents_opens_clean_with_empty_states(
        no_incidents: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, no_incidents.url + "/map")
    page = w.page
    for key in ("hotspots", "emerging", "incidents"):
        set_overlay(page, key, True)
    page.wait_for_function("['heatmap', 'hotspots', 'emerging'].every(k => "
                           "onemap.overlays[k].status === 'empty')", timeout=30_000)
    page.wait_for_selector("#om-sum-empty", state="visible")
    assert wait_drawn(page, "grids") > 0
    page.click("#om-tab-stats")
    page.wait_for_function("document.documentElement.dataset.statsRows > 0")
    page.click("#om-tab-trend")
    page.wait_for_function("document.documentElement.dataset.trendTotal === '0'")
    assert page.inner_text("#om-trend-msg") == "所选时段与条件下没有事件"
    clean(w, no_incidents)
    page.close()


# --- 4. planner: pick the target grid, drag a box, publish with diff and progress --------
def test_planner_picks_grids_drags_boxes_and_publishes_with_confirmation(
        server: Server, browser: Browser, demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    page.click("#om-planner-toggle")
    page.click("#om-new-draft")
    page.wait_for_function("onemap.planner.state.plan && onemap.planner.state.grids && "
                           "document.getElementById('om-plan-version').textContent !== '—'",
                           timeout=90_000)  # copying the city plan + evaluation: CI once took >30 s
    plan_id = page.evaluate("onemap.planner.state.plan.id")
    # The colour key stays while the draft's grids replace the grid layer.
    page.wait_for_selector('#om-legend .om-legend-section[data-layer="grids"]')
    with demo_engine.connect() as conn:
        g = conn.execute(text("""
            SELECT g.code, ST_X(c) AS lon, ST_Y(c) AS lat FROM grids g
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS c) p
            WHERE g.plan_id = :p AND EXISTS (SELECT 1 FROM buildings b
                  WHERE ST_Contains(b.geom, p.c)) ORDER BY g.code LIMIT 1"""),
                          {"p": plan_id}).mappings().first()
        if g is None:  # no building under any grid's centre: any grid
            g = conn.execute(text("SELECT code, ST_X(ST_PointOnSurface(geom)) AS lon, "
                                  "ST_Y(ST_PointOnSurface(geom)) AS lat FROM grids "
                                  "WHERE plan_id = :p ORDER BY code LIMIT 1"),
                             {"p": plan_id}).mappings().one()
    page.evaluate(f"onemap.map.setView([{g['lat']}, {g['lon']}], 18)")
    wait_drawn(page, "buildings")
    page.click("#om-pick-target")
    click_map(page, g["lat"], g["lon"])
    page.wait_for_function(f"document.getElementById('om-target').value === '{g['code']}'")
    assert page.inner_text("#om-selected-count") == "0"  # no building was selected
    # Box selection by dragging.
    page.evaluate(f"onemap.map.setView([{g['lat']}, {g['lon']}], 17)")
    wait_drawn(page, "buildings")
    page.click("#om-box")
    box = page.evaluate("(() => { const r = onemap.map.getContainer().getBoundingClientRect(); "
                        "return [r.left + r.width / 2, r.top + r.height / 2, "
                        "r.width / 2, r.height / 2]; })()")
    page.mouse.move(box[0] - 120, box[1] - 90)
    page.mouse.down()
    page.mouse.move(box[0], box[1], steps=5)
    page.mouse.move(box[0] + 120, box[1] + 90, steps=5)
    page.mouse.up()
    page.wait_for_function("Number(document.getElementById('om-selected-count').textContent) > 0",
                           timeout=15_000)
    sel = page.evaluate("Object.keys(onemap.planner.state.selected).map(Number)")
    bounds = page.evaluate("""([cx, cy]) => {
        const a = onemap.map.containerPointToLatLng([cx - 120, cy - 90]),
              b = onemap.map.containerPointToLatLng([cx + 120, cy + 90]);
        return [a.lng, b.lat, b.lng, a.lat]; }""", [box[2], box[3]])
    with demo_engine.connect() as conn:
        inside = set(conn.execute(text(
            "SELECT m.building_id FROM grid_members m JOIN buildings b ON b.id = m.building_id "
            "WHERE m.plan_id = :p AND ST_Intersects(ST_PointOnSurface(b.geom), "
            "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))"),
            {"p": plan_id, "x0": bounds[0], "y0": bounds[1], "x1": bounds[2],
             "y1": bounds[3]}).scalars())
    assert set(sel) and len(set(sel) & inside) >= 0.9 * len(set(sel))
    page.click("#om-clear")
    # Split the target: the panel says what changed; publish asks first, with the diff.
    page.fill("#om-split-k", "2")
    page.click("#om-split")
    page.wait_for_function("document.getElementById('om-plan-version').textContent !== '1'",
                           timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "planner.png"))
    page.click("#om-publish")
    page.wait_for_selector("#om-publish-box", state="visible", timeout=30_000)
    assert page.inner_text('#om-publish-diff tr[data-key="pl.diff_added"] td.om-num') == "1"
    assert page.inner_text('#om-publish-diff tr[data-key="pl.diff_changed"] td.om-num') == "1"
    with demo_engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM grid_plans WHERE id = :p"),
                            {"p": plan_id}).scalar() == "draft"  # nothing published yet
    page.click("#om-publish-confirm")
    page.wait_for_selector("#om-publish-progress", state="visible")
    assert "正在发布" in page.inner_text("#om-publish-progress")
    page.wait_for_function(f"document.getElementById('om-active-plan').textContent"
                           f".startsWith('#{plan_id} ')", timeout=120_000)
    with demo_engine.connect() as conn:
        row = conn.execute(text("SELECT status, version FROM grid_plans WHERE id = :p"),
                           {"p": plan_id}).one()
    assert row.status == "active"
    assert page.inner_text("#om-active-plan").endswith(f"版本 {row.version}")
    clean(w, server)
    page.close()


# --- 11. topic panels: "not available" without their APIs (drawn: tests/test_map_topics.py) --
def test_topics_without_their_apis_say_so_and_ask_nothing(server: Server,
                                                          browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    topics = page.evaluate("onemap.cfg.topics")
    have = {p for p in httpx.get(server.url + "/openapi.json").json()["paths"]}
    assert topics["safety"] == ("/api/v1/safety-index" in have)
    page.click("#om-tab-topics")
    for key in ("response", "cases", "safety", "report"):
        row = page.locator(f'.om-topic[data-topic="{key}"]')
        if not topics[key]:
            assert "暂未启用" in row.inner_text()
    asked = [u for u in w.requests if any(p in u for p in (
        "/response/", "/cases/", "/safety-index", "/reports/"))]
    assert asked == [] or all(topics.values())
    clean(w, server)
    page.close()


def test_print_layout_has_title_legend_scale_and_date(server: Server,
                                                      browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("#om-tab-stats")
    page.click("#om-print")
    assert page.evaluate("window.printed") is True
    page.emulate_media(media="print")
    head = page.inner_text("#om-print-head")
    assert "一张图" in head and "制图日期" in head and "统计时段" in head
    for sel in ("#om-print-head", "#om-legend", ".leaflet-control-scale"):
        assert page.locator(sel).is_visible(), sel
    for sel in (".om-filters", "#om-dock", ".om-header"):
        assert not page.locator(sel).is_visible(), sel
    clean(w, server)
    page.close()


def test_planner_splits_then_merges_by_clicking_grids(server: Server, browser: Browser,  # noqa: F811
                                                      demo_engine: Engine) -> None:  # noqa: F811
    """Split keeps the name and worker in both halves; merging the halves back by clicking
    them on the map leaves one grid with no hole."""
    w = open_page(browser, server.url + "/map")
    page = w.page
    page.click("#om-planner-toggle")
    page.click("#om-new-draft")
    page.wait_for_function("onemap.planner.state.plan && onemap.planner.state.grids && "
                           "document.getElementById('om-plan-version').textContent !== '—'",
                           timeout=90_000)  # copying the city plan + evaluation: CI once took >30 s
    plan_id = page.evaluate("onemap.planner.state.plan.id")
    with demo_engine.connect() as conn:
        g = conn.execute(text(
            "SELECT code, name, worker FROM grids WHERE plan_id = :p AND buildings >= 6 "
            "ORDER BY households DESC LIMIT 1"), {"p": plan_id}).mappings().one()
    page.select_option("#om-target", g["code"])
    page.click("#om-split")
    page.wait_for_function("document.getElementById('om-plan-version').textContent === '2'",
                           timeout=30_000)
    with demo_engine.connect() as conn:
        parts = conn.execute(text("""
            SELECT code, name, worker, ST_X(p) AS lon, ST_Y(p) AS lat FROM grids
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(geom) AS p) q
            WHERE plan_id = :p AND (code = :c OR name LIKE :n) ORDER BY code"""),
            {"p": plan_id, "c": g["code"], "n": g["name"] + "（%"}).mappings().all()
    assert len(parts) == 2 and all(x["worker"] == g["worker"] for x in parts)
    assert {x["name"] for x in parts} == {g["name"], g["name"] + "（2）"}
    page.evaluate("onemap.map.fitBounds(L.geoJSON(onemap.planner.state.grids.features.filter("
                  f"f => ['{parts[0]['code']}', '{parts[1]['code']}'].includes("
                  "f.properties.code))).getBounds(), {animate: false})")
    page.wait_for_timeout(500)
    page.click("#om-merge")  # merge mode: clicks pick grids
    for x in parts:
        click_map(page, x["lat"], x["lon"])
    page.wait_for_function("Object.keys(onemap.planner.state.mergeSel).length === 2")
    page.click("#om-merge")
    page.wait_for_function("document.getElementById('om-plan-version').textContent === '3'",
                           timeout=30_000)
    with demo_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT name, worker, (SELECT sum(ST_NumInteriorRings(d.geom)) "
            "FROM ST_Dump(geom) d) AS holes FROM grids WHERE plan_id = :p AND code = :c"),
            {"p": plan_id, "c": g["code"]}).mappings().one()
        other = next(x["code"] for x in parts if x["code"] != g["code"])
        left = conn.execute(text("SELECT count(*) FROM grids WHERE plan_id = :p AND code = :c"),
                            {"p": plan_id, "c": other}).scalar()
    assert (row["name"], row["worker"], row["holes"], left) == (g["name"], g["worker"], 0, 0)
    clean(w, server)
    page.close()


# --- screenshots of the default view --------------------------------------------------------
def test_default_view_screenshot(server: Server, browser: Browser) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    w = Watched(page)
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: w.requests.append(r.url))
    page.goto(server.url + "/map", wait_until="domcontentloaded")
    page.wait_for_function("document.documentElement.dataset.onemap === 'ready'")
    for key in ("grids", "cameras", "heatmap"):
        wait_drawn(page, key)
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "default.png"))
    # Every visible layer has a legend section.
    on = page.evaluate("Object.keys(onemap.overlays).filter(k => "
                       "onemap.map.hasLayer(onemap.overlays[k]))")
    legend = page.eval_on_selector_all("#om-legend .om-legend-section",
                                       "els => els.map(e => e.dataset.layer)")
    assert set(on) <= set(legend)
    assert w.errors == [] and off_host(w, server.host) == []
    page.close()


# --- 5. the widget (runs last: it creates a key) ------------------------------------------
def test_widget_shades_cells_by_count_with_a_legend(server: Server, browser: Browser,  # noqa: F811
                                                    demo_engine: Engine) -> None:  # noqa: F811
    from geo.keys import create_key

    _, token = create_key(demo_engine, "widget", name="screen test widget")
    time.sleep(1.2)
    page = browser.new_page(viewport={"width": 900, "height": 600})
    w = Watched(page)
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: w.requests.append(r.url))
    page.on("response", lambda r: w.failed.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.goto(server.url + "/map/embed?layers=grids,incidents&zoom=15"
              f"&access_token={token}", wait_until="domcontentloaded")
    page.wait_for_function("document.documentElement.dataset.onemap === 'ready'")
    wait_drawn(page, "grids")
    wait_drawn(page, "incidents")
    fills = page.eval_on_selector_all(
        ".leaflet-ol-incidents-pane path", "els => els.map(e => e.getAttribute('fill'))")
    opac = page.eval_on_selector_all(".leaflet-ol-incidents-pane path",
                                     "els => els.map(e => Number(e.getAttribute('fill-opacity')))")
    assert len(set(fills)) >= 3, set(fills)  # shaded by count, not one colour
    assert max(opac) < 0.7  # the grids show through
    assert page.inner_text('span[data-layer="incidents"]') == "事件（H3格计数）"
    sec = page.locator('#om-legend .om-legend-section[data-layer="incidents"]')
    assert sec.count() == 1 and "H3" in sec.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget.png"))
    assert w.errors == [] and w.failed == [] and off_host(w, server.host) == []
    page.close()
