"""The demo city: determinism, proportions, hierarchy, planted truth, loading and the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.db.engine import make_engine
from geo.demo import DemoSettings, generate, load_demo
from geo.demo.gistar import CellGrid, mann_kendall
from geo.errors import Conflict, InvalidInput

ROOT = Path(__file__).resolve().parent.parent
UTM = 32650


# ---------------------------------------------------------------- determinism ---------------


def test_same_seed_gives_identical_frames(small_demo_city):
    again = generate("small", 42)
    assert again.digest() == small_demo_city.digest()
    for name, frame in small_demo_city.layers():
        pd.testing.assert_frame_equal(frame.drop(columns="geometry"),
                                      getattr(again, name).drop(columns="geometry"))
        assert shapely.equals_exact(frame.geometry.to_numpy(),
                                    getattr(again, name).geometry.to_numpy(), 0).all(), name
    assert again.truth == small_demo_city.truth


def test_other_seed_gives_another_city(small_demo_city):
    other = generate("small", 43)
    assert other.digest() != small_demo_city.digest()
    assert len(other.buildings) != len(small_demo_city.buildings) or \
        not other.buildings.geometry.geom_equals(small_demo_city.buildings.geometry).all()


def test_end_date_moves_the_twelve_months():
    end = date(2025, 6, 2)
    city = generate("small", 42, end)
    t = city.incidents["occurred_at"]
    assert t.min() >= pd.Timestamp(end - timedelta(days=364), tz="Asia/Shanghai")
    assert t.max() < pd.Timestamp(end, tz="Asia/Shanghai")
    assert city.truth["period"] == {"start": "2024-06-03", "end": "2025-06-02",
                                    "end_exclusive": True, "timezone": "Asia/Shanghai",
                                    "step": "week", "steps": 52}
    assert all(c["verified"] for c in city.truth["hotspots"]["clusters"])


def test_bad_size_and_seed_are_domain_errors():
    with pytest.raises(InvalidInput, match="unknown demo size 'huge'"):
        generate("huge", 1)
    with pytest.raises(InvalidInput, match="non-negative"):
        generate("small", -1)


# ---------------------------------------------------------------- sizes and proportions -----


def test_small_sizes(small_demo_city):
    c = small_demo_city
    assert 1_300 <= len(c.buildings) <= 1_500
    assert 50 <= len(c.grids) <= 75
    assert 280 <= len(c.cameras) <= 300
    assert 25_000 <= len(c.incidents) <= 40_000
    assert (c.admin_areas["level"] == "district").sum() == 1
    assert abs(c.buildings["households"].sum() - 18_000) <= 400
    assert set(c.roads["class"]) == {"arterial", "secondary", "local"}
    assert list(c.waterways["kind"]) == ["river"]


def test_camera_classes_like_danjiangkou(small_demo_city):
    share = small_demo_city.cameras["class"].value_counts(normalize=True)
    assert share["A"] == pytest.approx(0.30, abs=0.02)
    assert share["B"] == pytest.approx(0.66, abs=0.02)
    assert share["C"] == pytest.approx(0.04, abs=0.015)


def test_households_by_building_kind(small_demo_city):
    b = small_demo_city.buildings
    assert set(b["kind"]) == {"tower", "low_rise", "non_residential"}
    for kind, lo, hi in (("tower", 100, 300), ("low_rise", 10, 40), ("non_residential", 0, 0)):
        hh = b.loc[b["kind"] == kind, "households"]
        assert hh.min() >= lo and hh.max() <= hi, kind
    assert (b["population"] >= b["households"]).all()
    assert ((b["population"] > 0) == (b["households"] > 0)).all()
    assert (b["floors"] >= 1).all()
    assert (b.loc[b["kind"] == "tower", "floors"] >= 18).all()
    assert b["code"].is_unique


def test_buildings_inside_their_community_and_off_the_river(small_demo_city):
    c = small_demo_city
    comm = c.admin_areas[c.admin_areas["level"] == "community"].set_index("code").geometry
    b = c.buildings.to_crs(UTM)
    comm_m = comm.to_crs(UTM)
    inside = shapely.covers(comm_m.loc[b["community_code"]].buffer(0.01).to_numpy(),
                            b.geometry.to_numpy())
    assert inside.all()
    river = c.waterways.to_crs(UTM).geometry.iloc[0]
    assert not shapely.intersects(river, b.geometry.to_numpy()).any()
    assert b.geometry.is_valid.all()
    # footprints do not overlap each other
    tree = shapely.STRtree(b.geometry.to_numpy())
    pairs = tree.query(b.geometry.to_numpy(), predicate="overlaps")
    assert pairs.shape[1] == 0


def test_codes_are_hierarchical(small_demo_city):
    a = small_demo_city.admin_areas
    by = {lvl: a[a["level"] == lvl] for lvl in ("district", "street", "community")}
    assert by["district"]["code"].str.fullmatch(r"3703\d\d").all()
    assert by["district"]["parent_code"].isna().all()
    for lvl, digits, parent in (("street", 9, "district"), ("community", 12, "street")):
        codes = by[lvl]
        assert codes["code"].str.fullmatch(rf"\d{{{digits}}}").all()
        assert codes["parent_code"].isin(by[parent]["code"]).all()
        assert (codes["code"].str[: digits - 3] == codes["parent_code"]).all()
    assert by["street"]["name"].str.endswith("街道").all()
    assert by["community"]["name"].str.endswith("社区").all()
    assert a["code"].is_unique and a["name"].is_unique
    # children tile their parent
    m = a.to_crs(UTM).set_index("code").geometry
    for _, row in pd.concat([by["street"], by["community"]]).iterrows():
        assert m[row["code"]].difference(m[row["parent_code"]].buffer(0.5)).area < 1.0
    g = small_demo_city.grids
    assert g["code"].str.fullmatch(r"\d{15}").all() and g["code"].is_unique
    assert (g["code"].str[:12] == g["community_code"]).all()
    assert set(g["community_code"]) == set(by["community"]["code"])
    assert g["worker"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()


def test_grids_cover_communities_with_about_300_households(small_demo_city):
    c = small_demo_city
    g = c.grids.to_crs(UTM)
    comm = c.admin_areas[c.admin_areas["level"] == "community"].to_crs(UTM).set_index("code")
    union = g.dissolve("community_code").geometry
    for code, geom in comm.geometry.items():
        assert union[code].symmetric_difference(geom).area < 1.0, code
    b = c.buildings.to_crs(UTM)
    pts = b.geometry.representative_point()
    joined = pd.Series(g.sindex.query(pts, predicate="within")[1]).value_counts()
    hh = b.groupby(np.asarray(g.sindex.query(pts, predicate="within")[1]))["households"].sum()
    assert len(joined) > 0
    median = float(np.median(hh))
    assert 200 <= median <= 400  # plausible, and imperfect:
    assert (np.abs(hh - 300) > 45).mean() > 0.2


def test_cameras_are_valid_and_denser_along_arterials(small_demo_city):
    cam = small_demo_city.cameras
    assert cam["code"].str.fullmatch(r"\d{20}").all() and cam["code"].is_unique
    assert (cam["code"].str[10:13] == "132").all()
    assert cam["code"].str[:6].isin(small_demo_city.admin_areas["code"]).all()
    assert cam["azimuth"].between(0, 360, inclusive="left").all()
    assert ((cam["fov"] > 0) & (cam["fov"] <= 360)).all()
    assert (cam.loc[cam["kind"].isin(["dome", "ptz"]), "fov"] == 360).all()
    assert (cam.loc[~cam["kind"].isin(["dome", "ptz"]), "fov"] < 120).all()
    assert ((cam["range_m"] > 0) & (cam["range_m"] <= 2000)).all()
    assert cam["height_m"].between(0, 300).all() and cam["tilt"].between(0, 90).all()
    status = cam["status"].value_counts(normalize=True)
    assert status["online"] > 0.88 and {"offline", "fault"} <= set(status.index)
    assert set(cam.loc[cam["class"] == "A", "kind"]) >= {"vehicle", "face", "bullet"}
    roads = small_demo_city.roads.to_crs(UTM)
    pts = cam.to_crs(UTM).geometry.to_numpy()
    per_km = {}
    for cls in ("arterial", "local"):
        lines = roads[roads["class"] == cls].geometry
        near = shapely.distance(shapely.union_all(lines.to_numpy()), pts) < 25
        per_km[cls] = near.sum() / (lines.length.sum() / 1000)
    assert per_km["arterial"] > 1.5 * per_km["local"]


def test_incident_fields_and_mixes(small_demo_city):
    inc = small_demo_city.incidents
    assert inc.groupby("source")["external_id"].apply(lambda s: s.is_unique).all()
    assert set(inc["source"]) == {"12345", "110", "grid", "petition", "other"}
    assert set(inc["category"]) <= {"dispute", "public_order", "hazard", "livelihood",
                                    "city_management", "other"}
    share = inc["source"].value_counts(normalize=True)
    assert share["12345"] == pytest.approx(0.45, abs=0.03)
    done = inc["status"].isin(["resolved", "closed"])
    assert inc.loc[done, "resolved_at"].notna().all()
    assert inc.loc[~done, "resolved_at"].isna().all()
    assert (inc.loc[done, "resolved_at"] >= inc.loc[done, "occurred_at"]).all()
    assert done.mean() > 0.95
    end = pd.Timestamp("2026-11-16", tz="Asia/Shanghai")
    assert inc["occurred_at"].max() < end
    assert inc["occurred_at"].min() >= end - pd.Timedelta(days=364)
    assert (inc.loc[inc["status"] == "received", "occurred_at"] > end - pd.Timedelta(days=1)).all()
    assert inc["subcategory"].str.fullmatch(r"[\u4e00-\u9fff]+").all()


def test_background_follows_households(small_demo_city):
    """Incidents per community grow with its households (rank correlation)."""
    c = small_demo_city
    comm = c.admin_areas[c.admin_areas["level"] == "community"]
    hh = c.buildings.groupby("community_code")["households"].sum().reindex(comm["code"])
    idx = comm.sindex.query(c.incidents.geometry, predicate="within")
    n = pd.Series(idx[1]).value_counts().reindex(range(len(comm)), fill_value=0).to_numpy()
    from scipy.stats import spearmanr

    assert spearmanr(hh.to_numpy(), n).statistic > 0.6


# ---------------------------------------------------------------- ground truth --------------


def test_truth_lists_what_was_planted(small_demo_city, small_demo_truth):
    truth = small_demo_truth
    assert truth == small_demo_city.truth
    assert truth["schema"] == "onemap-demo-truth/1" and truth["seed"] == 42
    assert truth["counts"] == {n: len(f) for n, f in small_demo_city.layers()}
    clusters = truth["hotspots"]["clusters"]
    assert sorted({c["pattern"] for c in clusters}) == ["diminishing", "intensifying", "new",
                                                        "persistent"]
    district = small_demo_city.admin_areas.query("level == 'district'").to_crs(UTM).union_all()
    inc = small_demo_city.incidents.to_crs(UTM)
    centres = []
    for c in clusters:
        assert c["verified"]
        assert len(c["weekly_counts"]) == 52 and sum(c["weekly_counts"]) == c["total"]
        assert h3.latlng_to_cell(c["centre"]["lat"], c["centre"]["lon"], 9) == c["h3_res9"]
        p = shapely.Point(*inc.crs and _utm(c["centre"]["lon"], c["centre"]["lat"]))
        assert district.contains(p.buffer(c["radius_m"]))
        near = int(shapely.dwithin(inc.geometry.to_numpy(), p, c["radius_m"]).sum())
        assert near >= c["total"]
        centres.append(p)
        if c["pattern"] == "new":
            assert c["weekly_counts"][:-1] == [0] * 51 and c["start"] == "2026-11-09"
        else:
            assert min(c["weekly_counts"]) > 0 and c["start"] == "2025-11-17"
    d = [a.distance(b) for i, a in enumerate(centres) for b in centres[i + 1:]]
    assert min(d) > 1_000


def _utm(lon, lat):
    from pyproj import Transformer

    return Transformer.from_crs(4326, UTM, always_xy=True).transform(lon, lat)


def test_planted_gaps_have_no_camera_and_have_incidents(small_demo_city, small_demo_truth):
    gaps = small_demo_truth["camera_gaps"]
    assert len(gaps["gaps"]) == 2 and gaps["clearance_m"] == 90.0
    cams = small_demo_city.cameras.to_crs(UTM)
    b = small_demo_city.buildings.to_crs(UTM)
    inc = small_demo_city.incidents
    area = small_demo_city.admin_areas.query("level == 'district'").to_crs(UTM).area.sum()
    for g in gaps["gaps"]:
        poly = shapely.geometry.shape(g["geometry"])
        poly_m = pd.Series([poly]).pipe(lambda s: __import__("geopandas").GeoSeries(
            s, crs=4326)).to_crs(UTM).iloc[0]
        dist = shapely.distance(poly_m, cams.geometry.to_numpy())
        assert dist.min() > gaps["clearance_m"]
        assert (dist > cams["range_m"].to_numpy()).all()  # nothing can see into it
        assert not shapely.intersects(poly_m, b.geometry.to_numpy()).any()
        n = int(shapely.contains_xy(poly, inc.geometry.x, inc.geometry.y).sum())
        assert n == g["incidents"]
        assert n / poly_m.area > 1.5 * len(inc) / area  # denser than the city average


# ---------------------------------------------------------------- independent Gi* check -----


def _weekly_counts(city, truth):
    """(CellGrid over the district ∪ incident cells, counts (52, n)) at H3 res 9."""
    inc = city.incidents
    cells = np.array([h3.str_to_int(h3.latlng_to_cell(y, x, 9))
                      for x, y in zip(inc.geometry.x, inc.geometry.y, strict=True)])
    district = city.admin_areas.query("level == 'district'").union_all()
    poly = np.array([h3.str_to_int(c) for c in
                     h3.h3shape_to_cells(h3.geo_to_h3shape(district.__geo_interface__), 9)])
    grid = CellGrid(np.r_[poly, cells])
    start = pd.Timestamp(truth["period"]["start"], tz="Asia/Shanghai")
    week = ((inc["occurred_at"] - start).dt.total_seconds() // (7 * 86400)).astype(int)
    return grid, grid.counts(grid.index(cells), week.to_numpy(), 52)


def _bh(p, alpha):
    order = np.argsort(p)
    ok = p[order] <= alpha * np.arange(1, len(p) + 1) / len(p)
    keep = np.zeros(len(p), bool)
    if ok.any():
        keep[order[: np.flatnonzero(ok).max() + 1]] = True
    return keep


def test_planted_clusters_are_found_by_gi_star_and_ehsa(small_demo_city, small_demo_truth):
    from esda.getisord import G_Local
    from libpysal.weights import W
    from scipy.stats import norm

    grid, x = _weekly_counts(small_demo_city, small_demo_truth)
    coo = grid.w.tocoo()
    neigh = {i: [] for i in range(grid.n)}
    for i, j in zip(coo.row, coo.col, strict=True):
        if i != j:
            neigh[int(i)].append(int(j))
    w = W(neigh, silence_warnings=True)
    z_all = G_Local(x.sum(0).astype(float), w, transform="B", star=True, permutations=0).Zs
    assert np.allclose(grid.gi_star(x.sum(0))[0], z_all)  # the generator's Gi* equals esda's
    hot99 = _bh(2 * norm.sf(np.abs(z_all)), 0.01) & (z_all > 0)
    zw = grid.gi_star(x)
    hot90 = np.array([_bh(2 * norm.sf(np.abs(z)), 0.10) & (z > 0) for z in zw])
    for c in small_demo_truth["hotspots"]["clusters"]:
        i = int(grid.index(np.array([h3.str_to_int(c["h3_res9"])]))[0])
        series = zw[:, i]
        assert np.allclose(series, c["gi_z_weekly"], atol=0.05), c["id"]
        trend = mann_kendall(series)
        if c["pattern"] == "new":
            assert hot90[-1, i] and not hot90[:-1, i].any() and series[-1] > 3
            continue
        assert hot99[i] and z_all[i] > 3, c["id"]
        assert series.min() > 3 and hot90[:, i].mean() >= 0.9 and hot90[-1, i]
        if c["pattern"] == "intensifying":
            assert trend > 2.58
        elif c["pattern"] == "diminishing":
            assert trend < -2.58
        else:
            assert abs(trend) < 1.96


# ---------------------------------------------------------------- database and CLI ----------


def test_loaded_counts_match(small_demo, small_demo_city):
    eng = make_engine(small_demo)
    try:
        with eng.connect() as conn:
            for name, frame in small_demo_city.layers():
                n = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                assert n == len(frame), name
            plan = conn.execute(text("SELECT name, status FROM grid_plans")).all()
            assert [tuple(p) for p in plan] == [("现状网格", "active")]
            members = conn.execute(text("SELECT count(*) FROM grid_members")).scalar()
            assert members == len(small_demo_city.buildings)
            no_grid = conn.execute(text(
                "SELECT count(*) FROM incidents WHERE grid_id IS NULL")).scalar()
            assert no_grid < 0.01 * len(small_demo_city.incidents)
            hh = conn.execute(text("SELECT sum(households) FROM buildings")).scalar()
            assert hh == small_demo_city.buildings["households"].sum()
    finally:
        eng.dispose()


def _cli(args, settings, data_dir):
    env = dict(os.environ, ONEMAP_DATABASE_URL=settings.database_url,
               ONEMAP_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_if_empty_and_replace(small_demo_copy, tmp_path):
    eng = make_engine(small_demo_copy)
    try:
        assert load_demo(eng, "small", 42, if_empty=True, progress=False, data_dir=tmp_path,
                         settings=DemoSettings.from_env()).skipped
        with pytest.raises(Conflict, match="--replace"):
            load_demo(eng, "small", 42, progress=False, data_dir=tmp_path,
                      settings=DemoSettings.from_env())
        with eng.begin() as conn:
            conn.execute(text("DELETE FROM cameras WHERE id % 2 = 0"))
        out = _cli(["demo", "--size", "small", "--seed", "42", "--if-empty"], small_demo_copy,
                   tmp_path)
        assert out.returncode == 0 and "nothing loaded" in out.stdout
        out = _cli(["demo", "--size", "small", "--seed", "42", "--replace"], small_demo_copy,
                   tmp_path)
        assert out.returncode == 0, out.stderr
        assert re.search(r"cameras: read \d+, inserted \d+", out.stdout)
        truth = tmp_path / "demo" / "small" / "ground_truth.json"
        assert truth.exists()
        with eng.connect() as conn:
            n_cam = conn.execute(text("SELECT count(*) FROM cameras")).scalar()
            plans = conn.execute(text("SELECT count(*) FROM grid_plans")).scalar()
            first = conn.execute(text("SELECT min(id) FROM buildings")).scalar()
        import json

        assert n_cam == json.loads(truth.read_text())["counts"]["cameras"]
        assert plans == 1 and first == 1
    finally:
        eng.dispose()


def test_cli_bad_arguments_print_one_line(db_settings, tmp_path):
    for args, msg in ((["--size", "huge"], "unknown demo size"),
                      (["--size", "small", "--end", "2026-13-01"], "YYYY-MM-DD")):
        out = _cli(["demo", *args], db_settings, tmp_path)
        assert out.returncode != 0
        assert out.stderr.strip().count("\n") == 0 and msg in out.stderr


# ---------------------------------------------------------------- the city size -------------


@pytest.mark.slow
def test_city_demo(city_demo, city_demo_truth):
    counts = city_demo_truth["counts"]
    assert 14_000 <= counts["buildings"] <= 15_000
    assert 550 <= counts["grids"] <= 680
    assert 2_900 <= counts["cameras"] <= 3_000
    assert 450_000 <= counts["incidents"] <= 600_000
    clusters = city_demo_truth["hotspots"]["clusters"]
    for pattern in ("new", "intensifying", "persistent", "diminishing"):
        assert sum(c["pattern"] == pattern for c in clusters) >= 2
    assert all(c["verified"] for c in clusters)
    assert len(city_demo_truth["camera_gaps"]["gaps"]) == 4
    eng = make_engine(city_demo)
    try:
        with eng.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM incidents")).scalar()
    finally:
        eng.dispose()
    assert n == counts["incidents"]
