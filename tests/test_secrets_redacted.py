"""A key sent as ``?access_token=`` is never written down or handed on.

A real uvicorn server with its access log on is asked for tiles, TileJSON, OGC items
(an audited export), the embeddable map, metrics and a refused request, each with
the key in the query string; the secret must appear in none of: the server's log,
``audit_log``, the TileJSON tile URL, OGC links, ``/metrics``.
"""

from __future__ import annotations

import httpx
from sqlalchemy import text

from api.testing.server import serve, server_log_tail
from geo import keys
from geo.settings import DatabaseSettings


def test_access_tokens_are_redacted_everywhere(empty_db, db_settings: DatabaseSettings):
    admin_key, admin = keys.create_key(empty_db, "admin", name="redact-admin")
    widget_key, widget = keys.create_key(empty_db, "widget", name="redact-widget")
    admin_secret = keys.parse_key(admin)[1]  # a secret may itself hold "_"
    widget_secret = keys.parse_key(widget)[1]
    wrong = f"om_{widget_key.key_id}_{'w' * 30}"
    assert db_settings.database_url
    with serve({"ONEMAP_DATABASE_URL": db_settings.database_url, "ONEMAP_API_HOST": "127.0.0.1"},
               log_level="info") as base:
        with httpx.Client(base_url=base, timeout=30) as c:
            tj = c.get("/tiles/roads/tilejson.json", params={"access_token": admin})
            tile = c.get("/tiles/roads/0/0/0.pbf", params={"access_token": admin})
            ogc = c.get("/ogc/collections/roads/items",
                        params={"access_token": admin, "limit": 1})
            embed = c.get("/map/embed", params={"access_token": widget, "layers": "roads"})
            refused = c.get("/map/labels", params={"access_token": wrong})
            metrics = c.get("/metrics", params={"access_token": admin})
        log = server_log_tail(base, chars=None)
    assert "GET /tiles/roads/0/0/0.pbf" in log  # the access log was on
    assert admin_secret not in log and widget_secret not in log and "w" * 30 not in log
    assert tj.status_code == tile.status_code == 200
    assert ogc.status_code == 200, ogc.text  # a key in the query is not an unknown filter
    assert embed.status_code == metrics.status_code == 200
    assert refused.status_code == 401
    assert "access_token=%5Bredacted%5D" in log or "access_token=[redacted]" in log
    tile_url = tj.json()["tiles"][0]
    assert admin_secret not in tile_url and "access_token" not in tile_url
    assert admin_secret not in ogc.text
    assert admin_secret not in metrics.text
    assert embed.headers["referrer-policy"] == "no-referrer"
    with empty_db.connect() as conn:
        rows = conn.execute(text(
            "SELECT actor, action, coalesce(target, ''), coalesce(detail::text, '') "
            "FROM audit_log")).all()
    assert any("export" in r[1] for r in rows)  # the OGC read was audited ...
    stored = " ".join(" ".join(r) for r in rows)
    assert admin_secret not in stored and widget_secret not in stored  # ... without the key
    assert admin_key.key_id in stored  # who it was stays known


def test_redact_query_keeps_the_other_parameters():
    from api.secrets import redact_query

    q = "from=-P7D&access_token=om_0123456789ab_s3cret-s3cret-s3cret&category=hazard"
    assert redact_query(q) == "from=-P7D&access_token=%5Bredacted%5D&category=hazard"
    assert redact_query(q, drop=True) == "from=-P7D&category=hazard"
    assert redact_query("layers=a,b") == "layers=a,b"
    # a key pasted into another parameter is caught by its shape
    assert "s3cret" not in redact_query("note=om_0123456789ab_s3cret-s3cret-s3cret")


def test_audited_exports_store_no_key(empty_db, db_settings: DatabaseSettings):
    from test_tiles_support import client_for, seed_plan_with_grids

    plan = seed_plan_with_grids(empty_db, "active")
    key, token = keys.create_key(empty_db, "viewer", name="redact-viewer")
    secret = keys.parse_key(token)[1]
    with client_for(db_settings) as c:
        r = c.get(f"/api/v1/grid-plans/{plan}/grids", params={"access_token": token})
    assert r.status_code == 200, r.text
    with empty_db.connect() as conn:
        stored = conn.execute(text(
            "SELECT string_agg(actor || action || coalesce(detail::text, ''), ' ') FROM audit_log"
        )).scalar_one()
    assert "export" in stored and key.key_id in stored
    assert secret not in stored


def test_log_records_of_child_loggers_and_tracebacks_are_redacted():
    import io
    import logging

    from api.secrets import install_log_redaction

    token = "om_0123456789ab_" + "s" * 40
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("onemap")
    logger.addHandler(handler)
    try:
        install_log_redaction()
        child = logging.getLogger("onemap.auth")
        child.warning("refused %s", f"/tiles/a/0/0/0.pbf?access_token={token}")
        try:
            raise ValueError(f"bad key {token}")
        except ValueError:
            child.exception("failed")
    finally:
        logger.removeHandler(handler)
    text_ = stream.getvalue()
    assert "refused /tiles/a/0/0/0.pbf?access_token=" in text_
    assert "bad key om_0123456789ab_" in text_  # the key id stays, the secret goes
    assert "s" * 40 not in text_


def test_database_settings_never_print_the_password():
    """Settings reprs reach logs and test reports (a failing test prints its fixtures)."""
    from geo.settings import DatabaseSettings

    url = "postgresql+psycopg://onemap:s3cr3t-Pa55@127.0.0.1:55432/onemap"
    s = DatabaseSettings(database_url=url)
    assert "s3cr3t-Pa55" not in repr(s) and "s3cr3t-Pa55" not in str(s)
    assert "onemap:***@127.0.0.1" in repr(s)
    assert s.database_url == url  # the value itself is untouched
