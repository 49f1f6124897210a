"""The command centre's topic panels and layers in real headless Chromium on the small demo,
against the real response-circle, case-flow and 平安指数 APIs (ARCHITECTURE.md §9–§10,
issue 17 #11).

Every figure the page shows is compared with the API's own answer for the same request;
each panel is used as an operator would (switch it on, read it, click a row, pick an
incident, change the window) and must leave no page error, no failed request and nothing
off the host. Screenshots of the panels go to ``docs/screenshots``. The widget test runs
last (once a key exists the server requires keys).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlparse

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
)

from geo.db.engine import make_engine
from geo.settings import DatabaseSettings

pytestmark = pytest.mark.browser

SHOTS = ROOT / "docs" / "screenshots"
TOPIC_LAYERS = {"posts": "处置站点", "response_areas": "应急处置圈（车行1/3/5分钟）",
                "case_warnings": "案件红黄绿灯（当前）", "safety_index": "平安指数（社区）"}
RISK_ZH = {"none": "无预警", "blue": "蓝色预警", "yellow": "黄色预警", "orange": "橙色预警",
           "red": "红色预警"}
CLICK_AT = """([lat, lon]) => { const p = onemap.map.latLngToContainerPoint([lat, lon]);
  const r = onemap.map.getContainer().getBoundingClientRect();
  return [r.left + p.x, r.top + p.y]; }"""


@pytest.fixture(scope="module")
def server(demo: DatabaseSettings) -> Iterator[Server]:  # noqa: F811
    assert demo.database_url
    s = start_server(demo.database_url, ROOT / "data" / "screenshots" / "server-topics.log")
    yield s
    stop_server(s)


def clean(w: Watched, server: Server) -> None:
    """Nothing failed, nothing logged an error, nothing left the host."""
    assert w.errors == [], w.errors
    assert w.failed == [], w.failed
    assert off_host(w, server.host) == []


def topic_on(page: Page, key: str) -> str:
    """Open the topics tab, switch ``key`` on, wait until it has drawn; its panel text."""
    if page.evaluate("onemap.panels.state.tab") != "topics":
        page.click("#om-tab-topics")
    page.check(f"#om-topic-{key}")
    page.wait_for_function(f"document.getElementById('om-topic-detail-{key}').dataset.state "
                           "=== 'ready'", timeout=60_000)
    return page.inner_text(f"#om-topic-detail-{key}")


def calm(page: Page, topic_open: bool = True) -> None:
    """Only the admin outlines under the topic layers (for the screenshots), dock reopened."""
    if page.evaluate("onemap.panels.state.tab") is not None:
        page.click(f"#om-tab-{page.evaluate('onemap.panels.state.tab')}")
    for key in ("grids", "cameras", "heatmap"):
        set_overlay(page, key, False)
    page.evaluate("onemap.map.fitBounds(onemap.cfg.bounds, {animate: false})")
    if topic_open:
        page.click("#om-tab-topics")
    page.wait_for_function("![...document.querySelectorAll('.om-topic-detail')]"
                           ".some(d => d.dataset.state === 'loading')")
    page.wait_for_timeout(800)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def popup_text(page: Page) -> str:
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    return page.inner_text(".leaflet-popup-content")


# --- the panels are offered: the app has the APIs --------------------------------------
def test_the_topic_panels_are_offered_when_the_app_has_their_apis(
        server: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    assert page.evaluate("onemap.cfg.topics") == {"response": True, "cases": True,
                                                  "safety": True, "report": True}
    page.click("#om-tab-topics")
    for key in ("response", "cases", "safety"):
        assert page.locator(f"#om-topic-{key}").count() == 1, key
    assert "暂未启用" not in page.inner_text("#om-topics")
    # The period's report is one click away: the anchor's month, served.
    anchor = page.evaluate("onemap.cfg.anchor")[:7]
    href = page.get_attribute("#om-report-link", "href")
    assert href == f"/api/v1/reports/{anchor}.html"
    r = httpx.get(server.url + href, timeout=120)
    assert r.status_code == 200 and "平安" in r.text
    clean(w, server)
    page.close()


# --- response circles ------------------------------------------------------------------
def test_response_panel_shows_reach_unreached_places_and_nearest_posts(
        server: Server, browser: Browser, demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=90")
    page = w.page
    topic_on(page, "response")
    q = {"minutes": "1,3,5", "mode": "drive"}
    city = httpx.get(server.url + "/api/v1/response/summary", params={**q, "level": "city"},
                     timeout=60).json()["units"][0]
    com = httpx.get(server.url + "/api/v1/response/summary",
                    params={**q, "level": "community"}, timeout=60).json()
    areas = httpx.get(server.url + "/api/v1/response/areas",
                      params={**q, "overlap": "dissolve"}, timeout=60).json()
    # The city's reach per break, as the API counts it.
    for m in ("1", "3", "5"):
        row = page.locator(f'#om-reach-table tr[data-minutes="{m}"]')
        assert row.locator('td[data-col="households"]').inner_text() == \
            f"{city['reached'][m]['households']:,}"
        assert row.locator('td[data-col="share"]').inner_text() == \
            pct(city["reached"][m]["household_share"])
    # Three areas, the unreached communities and key places drawn; each listed.
    unreached = com["unreached"]["features"]
    units = [f for f in unreached if f["properties"]["kind"] == "unit"]
    places = [f for f in unreached if f["properties"]["kind"] != "unit"]
    assert units and places, "the small demo plants places no post reaches in 5 minutes"
    assert drawn(page, "topic_areas") == len(areas["features"]) + len(units)
    assert page.locator('#om-unreached .om-list-row[data-kind="unit"]').count() == len(units)
    assert page.locator('#om-unreached .om-list-row[data-kind="place"]').count() == len(places)
    # Most households not reached first; a click flies there and opens the figures.
    worst = max(units, key=lambda f: f["properties"]["households_unreached"])["properties"]
    first = page.locator('#om-unreached .om-list-row[data-kind="unit"]').first
    assert first.get_attribute("data-code") == worst["code"]
    first.click()
    text_ = popup_text(page)
    assert worst["name"] in text_ and f"{worst['households_unreached']:,}" in text_
    page.evaluate("onemap.map.closePopup()")
    # An incident on the map: its popup offers the nearest posts, fastest first with routes.
    with demo_engine.connect() as conn:
        candidates = conn.execute(text(
            "SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incidents WHERE occurred_at > "
            "(SELECT max(occurred_at) - interval '30 days' FROM incidents) ORDER BY id LIMIT 40")
                                  ).mappings().all()
    # One that some post reaches (a few at the district's edge are off the road network).
    inc = next(c for c in candidates if httpx.get(server.url + "/api/v1/response/nearest", params={
        "lon": c["lon"], "lat": c["lat"], "k": 1}, timeout=30).json()["features"])
    page.click("#om-tab-topics")  # fold the dock: the layer list comes back
    set_overlay(page, "incidents", True)
    page.evaluate(f"onemap.map.setView([{inc['lat']}, {inc['lon']}], 18)")
    wait_drawn(page, "incidents")
    x, y = page.evaluate(CLICK_AT, [inc["lat"], inc["lon"]])
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content .om-nearest-btn")
    lat = float(page.get_attribute(".om-nearest-btn", "data-lat"))
    lon = float(page.get_attribute(".om-nearest-btn", "data-lon"))
    assert abs(lat - inc["lat"]) < 2e-5 and abs(lon - inc["lon"]) < 2e-5
    page.click(".om-nearest-btn")
    page.wait_for_selector("#om-nearest-list .om-route", timeout=30_000)
    truth = httpx.get(server.url + "/api/v1/response/nearest", params={
        "lon": f"{lon:.7f}", "lat": f"{lat:.7f}", "k": 3, "mode": "drive"}, timeout=30).json()
    want = [f["properties"] for f in truth["features"]]
    assert want, "some post reaches every demo incident"
    rows = page.locator("#om-nearest-list .om-route")
    assert [rows.nth(i).get_attribute("data-code") for i in range(rows.count())] == \
        [p["code"] for p in want]
    assert f"{want[0]['seconds'] / 60:.1f} 分钟" in rows.first.inner_text()
    assert drawn(page, "routes") == len(want) + 1  # the routes and the incident's ring
    # Any point can be picked too.
    page.click("#om-nearest-pick")
    box = page.evaluate("(() => { const r = onemap.map.getContainer().getBoundingClientRect();"
                        " return [r.left + r.width / 3, r.top + r.height / 2]; })()")
    before = page.evaluate("onemap.nearestResult.parameters.lon")
    page.mouse.click(box[0], box[1])
    page.wait_for_function(f"onemap.nearestResult.parameters.lon !== {before}", timeout=30_000)
    assert page.locator("#om-nearest-list .om-route").count() >= 1
    page.evaluate("onemap.map.closePopup()")
    page.click("#om-tab-topics")  # fold the dock again to reach the layer list
    set_overlay(page, "incidents", False)
    calm(page, topic_open=False)
    page.click("#om-tab-topics")
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "response.png"))
    # Switched off: everything it drew goes.
    page.uncheck("#om-topic-response")
    assert drawn(page, "topic_areas") == 0 and drawn(page, "routes") == 0
    clean(w, server)
    page.close()


# --- case flow -------------------------------------------------------------------------
def _case_truth(server: Server, page: Page) -> tuple[dict, dict, dict]:
    f = page.evaluate("onemap.filterParams()")
    at = page.evaluate("new Date(Math.min(new Date(onemap.filterParams().to).getTime(), "
                       "Date.now())).toISOString()")
    s = httpx.get(server.url + "/api/v1/cases/summary", params={
        "level": "city", "from": f["from"], "to": f["to"], "at": at}, timeout=60).json()
    warn = httpx.get(server.url + "/api/v1/cases/warnings", params={
        "level": "community", "at": at, "limit": 2000}, timeout=60).json()
    return f, s["units"][0], warn


def test_case_panel_figures_lights_and_warnings_follow_the_window(
        server: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=90")
    page = w.page
    topic_on(page, "cases")
    _, s, warn = _case_truth(server, page)
    fig = lambda k: page.inner_text(f'#om-case-figures [data-figure="{k}"]')  # noqa: E731
    assert fig("received") == f"{s['received']:,}"
    for k in ("closure_rate", "on_time_rate", "satisfaction_rate"):
        assert fig(k) == pct(s[k]), k
    assert fig("overdue_open") == f"{s['overdue_open']:,}"
    lights = {k: sum(u[k] for u in warn["units"]) for k in ("red", "yellow", "green")}
    assert lights["red"] and lights["yellow"] and lights["green"], lights
    for k, zh in (("red", "红灯（超期）"), ("yellow", "黄灯（将超期）"), ("green", "绿灯")):
        assert page.inner_text(f'#om-lights [data-light="{k}"]') == f"{zh}：{lights[k]:,}"
    cases = warn["cases"]["features"]
    assert drawn(page, "cases") == len(cases) == sum(lights.values())
    # Most overdue first; a row click opens that case.
    top = max((c["properties"] for c in cases), key=lambda p: p["hours_past_limit"])
    row = page.locator("#om-warnings .om-list-row").first
    assert row.get_attribute("data-id") == top["external_id"]
    row.click()
    assert top["external_id"] in popup_text(page)
    page.evaluate("onemap.map.closePopup()")
    by_dep = {d["department"]: d for d in warn["by_department"]}
    for tr in page.locator("#om-departments tr[data-department]").all():
        d = by_dep[tr.get_attribute("data-department")]
        assert tr.locator('td[data-light="red"]').inner_text() == f"{d['red']:,}"
    calm(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "cases.png"))
    # A shorter window: received and the lights follow (no lag behind the filter).
    page.click('button[data-days="7"]')
    page.wait_for_function("document.getElementById('om-topic-detail-cases').dataset.state "
                           "=== 'ready' && document.getElementById('om-cases-window')",
                           timeout=60_000)
    page.wait_for_timeout(300)
    page.wait_for_function("document.getElementById('om-topic-detail-cases').dataset.state "
                           "=== 'ready'", timeout=60_000)
    _, s7, _ = _case_truth(server, page)
    assert s7["received"] < s["received"]
    assert fig("received") == f"{s7['received']:,}"
    # A window before any case: empty states, the old lights cleared, no 422 in the console.
    page.click('button[data-days="custom"]')
    page.fill("#om-from", "2020-01-01")
    page.fill("#om-to", "2020-01-31")
    page.click("#om-apply")
    page.wait_for_function("document.getElementById('om-topic-detail-cases').innerText"
                           ".includes('所选时段没有案件')", timeout=60_000)
    assert "该时点没有未办结案件" in page.inner_text("#om-topic-detail-cases")
    assert fig("received") == "0"
    assert drawn(page, "cases") == 0
    clean(w, server)
    page.close()


# --- 平安指数 ---------------------------------------------------------------------------
def test_safety_panel_colours_ranks_and_counts_risk_levels(
        server: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map")
    page = w.page
    topic_on(page, "safety")
    api = httpx.get(server.url + "/api/v1/safety-index", params={"level": "community"},
                    timeout=60).json()
    feats = [f["properties"] for f in api["features"]]
    assert page.inner_text("#om-safety-period") == f"期次 {api['period']}（上期 {api['previous']}）"
    for level, zh in RISK_ZH.items():
        n = sum(1 for p in feats if p["level"] == level)
        assert page.inner_text(f'#om-risk-counts [data-risk="{level}"]') == f"{zh}：{n}"
    rows = page.locator("#om-safety-rank .om-list-row")
    assert [rows.nth(i).get_attribute("data-code") for i in range(rows.count())] == \
        [p["code"] for p in sorted(feats, key=lambda p: p["rank"])]
    assert drawn(page, "topic_areas") == len(feats)
    # Colour = risk level.
    fills = page.evaluate("""() => { const out = {};
      onemap.topics.layers.safety.eachLayer(l => { out[l.feature.properties.code] =
        l.options.fillColor; }); return out; }""")
    colours = page.evaluate("onemap.styles.C.risk")
    assert fills == {p["code"]: colours[p["level"]] for p in feats}
    worst = max(feats, key=lambda p: p["rank"])
    page.locator(f'#om-safety-rank .om-list-row[data-code="{worst["code"]}"]').click()
    t = popup_text(page)
    assert worst["name"] in t and RISK_ZH[worst["level"]] in t and f"{worst['index']:.1f}" in t
    page.evaluate("onemap.map.closePopup()")
    calm(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "safety.png"))
    clean(w, server)
    page.close()


# --- the layer control -------------------------------------------------------------------
def test_topic_layers_in_the_control_with_chinese_names_legends_and_popups(
        server: Server, browser: Browser, demo_engine: Engine) -> None:  # noqa: F811
    w = open_page(browser, server.url + "/map?days=90")
    page = w.page
    names = dict(page.eval_on_selector_all(
        ".leaflet-control-layers-overlays span[data-layer]",
        "els => els.map(e => [e.dataset.layer, e.textContent])"))
    for key, zh in TOPIC_LAYERS.items():
        assert names.get(key) == zh, key
    # A camera cluster at city zoom says how many of which class (a merge broke its keys).
    page.evaluate("onemap.map.setView(L.latLngBounds(onemap.cfg.bounds).getCenter(), 14)")
    wait_drawn(page, "cameras")
    x, y = page.evaluate("""() => { let best = null, size = 0;
      for (const p of document.querySelectorAll('.leaflet-ol-cameras-pane path')) {
        const r = p.getBoundingClientRect();
        if (r.width > size && r.left > 300 && r.right < 1200 && r.top > 150 && r.bottom < 650) {
          size = r.width; best = [r.left + r.width / 2, r.top + r.height / 2]; } }
      return best; }""")
    page.mouse.click(x, y)
    t = popup_text(page)
    assert "摄像机" in t and "台" in t and any(c in t for c in ("一类", "二类", "三类")), t
    page.evaluate("onemap.map.closePopup()")
    page.evaluate("onemap.map.setView(L.latLngBounds(onemap.cfg.bounds).getCenter(), 15)")
    for key in TOPIC_LAYERS:
        set_overlay(page, key, True)
        assert wait_drawn(page, key) > 0, key
        sec = page.locator(f'#om-legend .om-legend-section[data-layer="{key}"]')
        assert sec.count() == 1, key
    legend = page.inner_text("#om-legend")
    for word in ("派出所", "1 分钟", "红灯（超期）", "橙色预警"):
        assert word in legend
    # A post opens its name; a case light its light and the nearest-post button.
    with demo_engine.connect() as conn:
        post = conn.execute(text("SELECT name, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM posts "
                                 "ORDER BY id LIMIT 1")).mappings().one()
    for key in TOPIC_LAYERS:
        if key != "posts":
            set_overlay(page, key, False)
    page.evaluate(f"onemap.map.setView([{post['lat']}, {post['lon']}], 17)")
    wait_drawn(page, "posts")
    x, y = page.evaluate(CLICK_AT, [post["lat"], post["lon"]])
    page.mouse.click(x, y)
    assert post["name"] in popup_text(page)
    page.evaluate("onemap.map.closePopup()")
    set_overlay(page, "posts", False)
    # An open case of the window, lit now (the tile layer's moment).
    f = page.evaluate("onemap.filterParams()")
    now = httpx.get(server.url + "/api/v1/cases/warnings", params={"level": "city"},
                    timeout=60).json()["cases"]["features"]
    one = next(c["geometry"]["coordinates"][::-1] for c in now
               if f["from"] <= c["properties"]["occurred_at"] < f["to"])
    set_overlay(page, "case_warnings", True)
    page.evaluate(f"onemap.map.setView([{one[0]}, {one[1]}], 18)")
    wait_drawn(page, "case_warnings")
    x, y = page.evaluate(CLICK_AT, one)
    page.mouse.click(x, y)
    t = popup_text(page)
    assert any(z in t for z in ("红灯", "黄灯", "绿灯")) and "最近站点" in t
    clean(w, server)
    page.close()


# --- a city without incidents: empty states, no 422 ----------------------------------------
@pytest.fixture(scope="module")
def no_cases(pg_server: DatabaseSettings, _small_demo_template) -> Iterator[Server]:
    template, _ = _small_demo_template
    name = f"{template}_nocases"
    settings = clone_database(pg_server, template, name)
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM incidents"))
        conn.execute(text("DELETE FROM safety_index"))
    engine.dispose()
    s = start_server(settings.database_url or "",
                     ROOT / "data" / "screenshots" / "server-nocases.log")
    yield s
    stop_server(s)
    drop_database(pg_server, name)


def test_without_cases_the_panels_show_empty_states_and_ask_nothing_that_fails(
        no_cases: Server, browser: Browser) -> None:  # noqa: F811
    w = open_page(browser, no_cases.url + "/map")
    page = w.page
    set_overlay(page, "safety_index", True)
    page.wait_for_function("onemap.overlays.safety_index.status === 'empty'", timeout=30_000)
    assert "暂无案件数据" in topic_on(page, "safety")
    body = topic_on(page, "cases")
    assert "所选时段没有案件" in body and "该时点没有未办结案件" in body
    body = topic_on(page, "response")
    assert page.locator("#om-reach-table tr[data-minutes]").count() == 3
    assert not [u for u in w.requests if "/api/v1/safety-index" in u or "/cases/summary" in u]
    clean(w, no_cases)
    page.close()


# --- the widget: no single cases, no exact cameras (runs last: it creates a key) ------------
def test_widget_never_gets_single_cases_or_exact_cameras(
        server: Server, browser: Browser, demo_engine: Engine) -> None:  # noqa: F811
    from mapbox_vector_tile import decode

    from geo.keys import create_key

    # The 平安指数 the widget's tiles show is the stored one (a reader's request stores it).
    assert httpx.get(server.url + "/api/v1/safety-index", params={"level": "community"},
                     timeout=60).status_code == 200
    _, token = create_key(demo_engine, "widget", name="topics test widget")
    time.sleep(1.2)
    auth = {"Authorization": f"Bearer {token}"}
    page = browser.new_page(viewport={"width": 900, "height": 600})
    w = Watched(page)
    page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: w.requests.append(r.url))
    page.on("response", lambda r: w.failed.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.goto(server.url + "/map/embed?layers=grids,cameras,posts,response_areas,safety_index,"
              f"case_warnings&zoom=15&access_token={token}", wait_until="domcontentloaded")
    page.wait_for_function("document.documentElement.dataset.onemap === 'ready'", timeout=45_000)
    cfg = page.evaluate("onemap.cfg")
    assert cfg["role"] == "widget"
    assert cfg["layers"] == ["grids", "cameras", "posts", "response_areas", "safety_index"]
    assert not any(cfg["topics"].values())
    for key in cfg["layers"]:
        assert wait_drawn(page, key) > 0, key
    sec = page.locator('#om-legend .om-legend-section[data-layer="safety_index"]')
    assert sec.count() == 1 and "橙色预警" in sec.inner_text()
    asked = [urlparse(u).path for u in w.requests]  # (the page's own URL names the layer)
    assert not any(p.startswith("/api/v1/") or "case_warnings" in p for p in asked)
    # Cameras reach it as coarse counts only: no code, name or class of a single camera.
    cams = [u for u in w.requests if "/tiles/cameras/" in u]
    assert cams
    for u in cams:
        for layer in decode(httpx.get(u, headers=auth).content).values():
            for f in layer["features"]:
                assert not {"code", "name", "azimuth"} & set(f["properties"]), f["properties"]
    # And asked directly, single cases are refused.
    r = httpx.get(server.url + "/tiles/case_warnings/15/27128/12587.pbf", headers=auth)
    assert r.status_code == 403
    # The full page for a widget key: the same list, no topic dock.
    w2 = Watched(browser.new_page(viewport={"width": 1200, "height": 800}))
    w2.page.on("request", lambda r: w2.requests.append(r.url))
    w2.page.goto(server.url + f"/map?access_token={token}", wait_until="domcontentloaded")
    w2.page.wait_for_function("document.documentElement.dataset.onemap === 'ready'")
    keys = w2.page.eval_on_selector_all(".leaflet-control-layers-overlays span[data-layer]",
                                        "els => els.map(e => e.dataset.layer)")
    assert "case_warnings" not in keys and "safety_index" in keys
    assert w2.page.locator("#om-tab-topics").count() == 0
    assert not any("/api/v1/" in u for u in w2.requests)
    w2.page.close()
    assert w.errors == [] and w.failed == [] and off_host(w, server.host) == []
    page.close()
