"""Case flow over HTTP and the CLI: PATCH with history, reloads that keep history, 4xx."""

from __future__ import annotations

import subprocess
import sys

import _cases_data as cases_data
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.policy import rule_for
from api.settings import ApiSettings
from api.state import AppState
from geo import keys
from geo.io.load import load_frame
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings


@pytest.fixture()
def case_db(empty_db):
    ingest, area = IngestSettings(), ServiceAreaSettings()
    load_frame(empty_db, "admin_areas", cases_data.admin_frame(), progress=False,
               allow_outside=True, settings=ingest, area=area)
    load_frame(empty_db, "grids", cases_data.grid_frame(), progress=False, allow_outside=True,
               settings=ingest, area=area)
    load_frame(empty_db, "incidents", cases_data.incident_frame(cases_data.cases_table()),
               progress=False, allow_outside=True, settings=ingest, area=area)
    return empty_db


@pytest.fixture()
def client(case_db, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def _history(engine, ext: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT h.field, h.old_value, h.new_value, h.actor FROM incident_history h "
            "JOIN incidents i ON i.id = h.incident_id WHERE i.external_id = :e ORDER BY h.id"),
            {"e": ext}).all()]


def test_summary_over_http_equals_reference(client):
    r = client.get("/api/v1/cases/summary", params={
        "level": "community", "by": "department", "from": cases_data.T0.isoformat(),
        "to": cases_data.T1.isoformat(), "at": cases_data.AT.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    ref = cases_data.reference_summary(cases_data.cases_table(), "community", by="department")
    got = {(u["code"], u["group"]): u for u in body["units"]}
    assert len(got) == len(ref)
    for row in ref.to_dict("records"):
        u = got[(row["code"], row["group"])]
        assert u["received"] == row["received"] and u["overdue_open"] == row["overdue_open"]
        assert u["closure_rate"] == pytest.approx(row["closure_rate"], abs=1e-9)
    assert body["level"] == "community" and "method" in body


def test_warnings_over_http(client):
    r = client.get("/api/v1/cases/warnings",
                   params={"level": "grid", "at": cases_data.AT.isoformat(), "light": "red",
                           "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    per_unit, per_case = cases_data.reference_lights(cases_data.cases_table(), "grid")
    reds = sum(1 for v in per_case.values() if v == "red")
    assert body["cases"]["numberMatched"] == reds and len(body["cases"]["features"]) == 5
    assert {u["code"]: u["red"] for u in body["units"]} == {
        g: int(per_unit["red"].get(g, 0)) for g in ("G1", "G2", "G3", "G4")}
    assert sum(d["red"] for d in body["by_department"]) == reds


@pytest.mark.parametrize("params, code", [
    ({"level": "province"}, "invalid_input"),
    ({"by": "weather"}, "invalid_input"),
    ({"from": "2001-01-01", "to": "2001-02-01"}, "not_enough_data"),
    ({"from": "yesterday"}, "invalid_input"),
    ({"from": "2026-10-02", "to": "2026-10-01"}, "invalid_input"),
])
def test_summary_bad_input_is_4xx(client, params, code):
    r = client.get("/api/v1/cases/summary", params=params)
    assert 400 <= r.status_code < 500 and r.json()["code"] == code, r.text


def test_warnings_bad_input_is_4xx(client):
    assert client.get("/api/v1/cases/warnings", params={"level": "x"}).status_code == 400
    assert client.get("/api/v1/cases/warnings", params={"light": "blue"}).status_code == 400
    assert client.get("/api/v1/cases/warnings", params={"at": "soon"}).status_code == 400


def test_patch_keeps_every_change_with_actor(client, case_db):
    with case_db.connect() as conn:
        src, ext = conn.execute(text(
            "SELECT source, external_id FROM incidents WHERE status = 'received' "
            "AND closed_at IS NULL AND satisfaction IS NULL ORDER BY id LIMIT 1")).one()
    before = client.get("/api/v1/cases/summary").json()
    r = client.patch(f"/api/v1/incidents/{src}/{ext}",
                     json={"status": "closed", "department": "应急局", "satisfaction": "满意"})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["status"] == "closed" and case["satisfaction"] == "satisfied"
    assert case["closed_at"] is not None and case["resolved_at"] == case["closed_at"]
    fields = [h["field"] for h in case["history"]]
    assert {"status", "department", "satisfaction", "closed_at"} <= set(fields)
    assert all(h["actor"] == "local" for h in case["history"])
    r2 = client.patch(f"/api/v1/incidents/{src}/{ext}", json={"reopened": 1,
                                                               "status": "dispatched"})
    hist = r2.json()["history"]
    status_changes = [(h["old"], h["new"]) for h in hist if h["field"] == "status"]
    assert status_changes[-2][1] == "closed" and status_changes[-1] == ("closed", "dispatched")
    # the figures follow at once (the case cache sees the new version)
    after = client.get("/api/v1/cases/summary").json()["units"][0]
    assert after["received"] == before["units"][0]["received"]
    assert after["done"] == before["units"][0]["done"]  # closed, then sent back


def test_patch_brings_the_cases_in_memory_up_to_date_after_answering(client, case_db):
    """After a PATCH the service reads the changed row in the background: the cases it holds
    then carry the new data versions and the new status, before any other request."""
    with case_db.connect() as conn:
        src, ext, ident = conn.execute(text(
            "SELECT source, external_id, id FROM incidents WHERE status = 'received' "
            "ORDER BY id LIMIT 1")).one()
    assert client.get("/api/v1/cases/summary").status_code == 200
    service = client.app.state.onemap.cases
    held = service.cases._cases
    r = client.patch(f"/api/v1/incidents/{src}/{ext}", json={"status": "closed"})
    assert r.status_code == 200, r.text
    with case_db.connect() as conn:
        versions = tuple(tuple(v) for v in conn.execute(text(
            "SELECT layer, version FROM layer_versions WHERE layer IN "
            "('incidents', 'grids', 'admin_areas') ORDER BY layer")).all())
    now = service.cases._cases
    assert now is not held and now.key == versions
    row = now.frame.index[now.frame["id"] == ident][0]
    assert now.frame["status"].iat[row] == "closed" and now.done_status[row]
    assert "_repeat_flags" in now.__dict__


@pytest.mark.parametrize("warm", ["true", "false"])
def test_cases_read_in_the_background_when_the_app_starts(case_db, db_settings, monkeypatch,
                                                          warm):
    monkeypatch.setenv("ONEMAP_CASE_WARM_UP", warm)
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app):
        service = app.state.onemap.cases
        if warm == "false":
            assert service.warm_thread is None and service.cases.key is None
            return
        service.warm_thread.join(60)
        held = service.cases._cases
        assert held is not None and len(held) == len(cases_data.cases_table())
        assert "_repeat_flags" in held.__dict__


@pytest.mark.parametrize("body, status", [
    ({"status": "lost"}, 400), ({"reopened": -1}, 400), ({"colour": "red"}, 400), ({}, 400),
    ({"closed_at": "2001-01-01T00:00:00+08:00"}, 400), ({"due_at": "tomorrow"}, 400),
])
def test_patch_bad_input(client, case_db, body, status):
    with case_db.connect() as conn:
        src, ext = conn.execute(text("SELECT source, external_id FROM incidents LIMIT 1")).one()
    r = client.patch(f"/api/v1/incidents/{src}/{ext}", json=body)
    assert r.status_code == status and "code" in r.json(), r.text
    assert client.patch("/api/v1/incidents/110/nope", json={"status": "closed"}
                        ).status_code == 404


def test_reload_with_update_keeps_earlier_states(case_db, db_env, tmp_path):
    """Load a case file, change statuses in it, load again with --on-conflict update."""
    table = cases_data.cases_table().head(30)
    path = tmp_path / "cases.csv"
    frame = cases_data.incident_frame(table)
    frame["external_id"] = [f"R{i}" for i in range(len(frame))]
    out = pd.DataFrame(frame.drop(columns="geometry"))
    out["lon"], out["lat"] = table.lon.to_numpy(), table.lat.to_numpy()
    out["status"] = "received"
    out["resolved_at"] = out["closed_at"] = out["satisfaction"] = None
    out.to_csv(path, index=False)
    cli = [sys.executable, "-m", "api.cli", "load", "incidents", str(path), "--allow-outside"]
    done = subprocess.run(cli, env=db_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _history(case_db, "R3") == []
    out["status"] = "dispatched"
    out["department"] = "城管局"
    out.to_csv(path, index=False)
    done = subprocess.run([*cli, "--on-conflict", "update"], env=db_env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out["status"] = "resolved"
    out["resolved_at"] = [(t + pd.Timedelta(hours=5)).isoformat() for t in table.occurred_at]
    out.to_csv(path, index=False)
    done = subprocess.run([*cli, "--on-conflict", "update"], env=db_env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    hist = _history(case_db, "R3")
    statuses = [(o, n) for f, o, n, _ in hist if f == "status"]
    assert statuses == [("received", "dispatched"), ("dispatched", "resolved")]
    assert all(a == "load cases.csv" for *_, a in hist)
    assert ("resolved_at", None) == next((f, o) for f, o, n, _ in hist if f == "resolved_at")
    # a reload with nothing changed adds nothing
    done = subprocess.run([*cli, "--on-conflict", "update"], env=db_env, capture_output=True,
                          text=True, timeout=120)
    assert _history(case_db, "R3") == hist
    with case_db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM incident_history h JOIN incidents i ON "
                              "i.id = h.incident_id WHERE i.external_id LIKE 'R%'")).scalar()
    assert n >= 30 * 3  # two status changes and resolved_at for every case


def test_widget_never_sees_cases(case_db, db_settings):
    _, widget = keys.create_key(case_db, "widget")
    keys.create_key(case_db, "admin")
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        auth = {"Authorization": f"Bearer {widget}"}
        for path in ("/api/v1/cases/summary", "/api/v1/cases/warnings", "/api/v1/cases/repeats",
                     "/api/v1/safety-index", "/api/v1/reports/2026-10.html"):
            assert c.get(path, headers=auth).status_code == 403, path
        assert c.patch("/api/v1/incidents/110/x", json={"status": "closed"},
                       headers=auth).status_code == 403


def test_policy_rows():
    assert set(rule_for("PATCH", "/api/v1/incidents/{source}/{external_id}").roles) == {
        "admin", "planner"}
    for template in ("/api/v1/cases/summary", "/api/v1/cases/warnings",
                     "/api/v1/cases/repeats", "/api/v1/safety-index",
                     "/api/v1/reports/{period}.html"):
        assert "widget" not in rule_for("GET", template).roles


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_cases(case_db, db_env):
    import json

    done = _cli(db_env, "cases", "summary", "--level", "street",
                "--from", cases_data.T0.isoformat(), "--to", cases_data.T1.isoformat(),
                "--at", cases_data.AT.isoformat(), "--json")
    assert done.returncode == 0, done.stderr
    ref = cases_data.reference_summary(cases_data.cases_table(), "street")
    got = {u["code"]: u["received"] for u in json.loads(done.stdout)["units"]}
    assert got == dict(zip(ref.code, ref.received, strict=True))
    for args in (["summary", "--by", "department"], ["warnings", "--level", "grid"],
                 ["repeats", "--radius-m", "2000", "--days", "10"]):
        done = _cli(db_env, "cases", *args)
        assert done.returncode == 0 and done.stdout.strip(), done.stderr
    bad = _cli(db_env, "cases", "summary", "--level", "province")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert "unknown level" in bad.stderr and "Traceback" not in bad.stderr


def test_warning_tiles_and_ogc_match_the_lights(case_db, db_settings):
    """Open cases in the tile layer and OGC collection carry the light of now (ARCHITECTURE §10)."""
    from test_tiles_support import features, tile_of

    from geo.cases.table import sync_limits
    from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of

    with case_db.begin() as conn:
        for ext, cat, hours_ago in (("N-green", "other", 1), ("N-yellow", "hazard", 20),
                                    ("N-red", "hazard", 30)):
            conn.execute(text(
                "INSERT INTO incidents (external_id, source, category, occurred_at, status, h3, "
                f"{SQL_COLUMNS}, geom) VALUES (:e, 'grid', :c, now() - :h * interval '1 hour', "
                f"'received', 0, {SQL_PARAMS}, ST_SetSRID(ST_MakePoint(118.02, 36.75), 4326))"),
                {"e": ext, "c": cat, "h": hours_ago, **cells_of(118.02, 36.75)})
        now = conn.execute(text("SELECT now()")).scalar_one()
    sync_limits(case_db, {"hazard": 24, "public_order": 24, "dispute": 72, "livelihood": 120,
                          "city_management": 120, "other": 120})
    table = cases_data.cases_table()
    _, want = cases_data.reference_lights(table, "city", at=pd.Timestamp(now).tz_convert("UTC"))
    want.update({"N-green": "green", "N-yellow": "yellow", "N-red": "red"})
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        z = 13
        x0, y1 = tile_of(118.0, 36.7, z)
        x1, y0 = tile_of(118.2, 36.9, z)
        seen = {}
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                r = c.get(f"/tiles/case_warnings/{z}/{x}/{y}.pbf")
                assert r.status_code in (200, 204), r.text
                if r.status_code == 200 and r.content:
                    for f in features(r.content, "case_warnings"):
                        seen[f["id"]] = f["properties"]["light"]
        with case_db.connect() as conn:
            ids = dict(conn.execute(text("SELECT id, external_id FROM incidents")).all())
        assert {ids[i]: light for i, light in seen.items()} == want
        items = c.get("/ogc/collections/case_warnings/items",
                      params={"light": "yellow", "limit": 1000}).json()
        assert {f["properties"]["external_id"] for f in items["features"]} == {
            e for e, light in want.items() if light == "yellow"}


def test_ingest_update_over_http_names_its_actor(client, case_db):
    with case_db.connect() as conn:
        src, ext, lon, lat, occ = conn.execute(text(
            "SELECT source, external_id, ST_X(geom), ST_Y(geom), occurred_at FROM incidents "
            "WHERE status = 'received' ORDER BY id LIMIT 1")).one()
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"external_id": ext, "source": src, "category": "hazard",
                              "occurred_at": occ.isoformat(), "status": "dispatched",
                              "department": "应急管理局"}}
    r = client.post("/api/v1/incidents", params={"on_conflict": "update"}, json=feature,
                    headers={"Content-Type": "application/geo+json"})
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    hist = _history(case_db, ext)
    assert ("status", "received", "dispatched", "local") in hist
