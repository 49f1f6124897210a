"""``/docs`` and ``/redoc`` render in a real headless Chromium with zero requests off the host.

FastAPI's stock pages load Swagger UI and ReDoc from cdn.jsdelivr.net, a favicon from
fastapi.tiangolo.com and fonts from fonts.googleapis.com; offline they stay blank.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, sync_playwright

from api.testing.server import serve
from geo.settings import DatabaseSettings

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def base(db_settings: DatabaseSettings) -> Iterator[str]:
    assert db_settings.database_url
    with serve({"ONEMAP_DATABASE_URL": db_settings.database_url,
                "ONEMAP_API_HOST": "127.0.0.1"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (make setup)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _visit(browser: Browser, url: str, rendered: str) -> tuple[list[str], list[str], int]:
    """Open ``url``, wait for the ``rendered`` selector; every request, failure and the count.

    Console errors (a script that did not load, a refused resource) count as failures.
    """
    page = browser.new_page()
    requests: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: failed.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(rendered, timeout=30_000)
    page.wait_for_load_state("networkidle", timeout=30_000)
    count = page.locator(rendered).count()
    page.close()
    return requests, failed, count


def _off_host(requests: list[str], base: str) -> list[str]:
    host = urlsplit(base).netloc
    return [u for u in requests
            if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != host]


def test_swagger_ui_renders_from_this_host(base: str, browser: Browser) -> None:
    requests, failed, operations = _visit(browser, f"{base}/docs", ".swagger-ui .opblock")
    assert operations > 20  # every route of the API is listed
    assert _off_host(requests, base) == []
    assert failed == []
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in requests)
    assert any(u.endswith("/openapi.json") for u in requests)


def test_redoc_renders_from_this_host(base: str, browser: Browser) -> None:
    operations_css = "[data-section-id^='operation']"
    requests, failed, operations = _visit(browser, f"{base}/redoc", operations_css)
    assert operations > 20
    assert _off_host(requests, base) == []
    assert failed == []
    assert any("/static/vendor/redoc/redoc.standalone.js" in u for u in requests)
