"""The periodic report: rendered in a real headless Chromium, offline, and printed to PDF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def client(small_demo):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def html(client) -> str:
    r = client.get(f"/api/v1/reports/{PERIOD}.html")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


@pytest.mark.browser  # launches Chromium itself
def test_report_renders_offline_without_console_errors(html, tmp_path, small_demo_truth):
    page_file = tmp_path / "report.html"
    page_file.write_text(html, encoding="utf-8")
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 1270})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri(), wait_until="load")
        text = page.inner_text("body")
        svgs = page.eval_on_selector_all("svg", "els => els.map(e => e.getBBox().width)")
        paths = page.eval_on_selector_all("svg path", "els => els.length")
        if os.environ.get("ONEMAP_REPORT_SCREENSHOT"):
            page.screenshot(path=str(ROOT / "docs" / "report.png"))
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "about:"))] == []
    assert "平安建设运行报告" in text and "办结率" in text and "超期案件清单" in text
    troubled = small_demo_truth["case_flow"]["troubled_community"]["name"]
    assert troubled in text
    assert len(svgs) >= 5 and all(w > 0 for w in svgs) and paths > 10


def test_report_figures_match_the_summary(client, html):
    city = client.get("/api/v1/cases/summary", params={
        "from": "2026-10-01", "to": "2026-10-31", "at": "2026-11-01T00:00:00+08:00"}).json()
    u = city["units"][0]
    assert f"<b>{u['received']}</b>" in html and f"<b>{u['done']}</b>" in html
    assert f"{100 * u['closure_rate']:.1f}%" in html


def test_report_pdf_over_http_and_cli(client, small_demo, tmp_path):
    r = client.get(f"/api/v1/reports/{PERIOD}.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf" and len(r.content) > 20_000
    env = {**os.environ, "ONEMAP_DATABASE_URL": small_demo.database_url}
    out = tmp_path / "r.html"
    done = subprocess.run([sys.executable, "-m", "api.cli", "report", "--period", PERIOD,
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "平安建设运行报告" in out.read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "api.cli", "report", "--period", "2001-01",
                          "--out", str(tmp_path / "x.pdf")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode != 0 and "no cases" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("path, status", [("/api/v1/reports/2026-13.html", 400),
                                          ("/api/v1/reports/2001-01.html", 422),
                                          ("/api/v1/reports/soon.pdf", 400)])
def test_report_bad_period(client, path, status):
    r = client.get(path)
    assert r.status_code == status and "code" in r.json()
