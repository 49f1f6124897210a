"""A little of every layer, for tests that need some data in every table."""

from __future__ import annotations

import h3

from geo.h3cells import cells_of

_SEED = """
INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES
  ('370303', '张店区', 'district', NULL,
   ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.10, 36.85, 4326))),
  ('370303001', '车站街道', 'street', '370303',
   ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.05, 36.80, 4326)));
INSERT INTO grid_plans (name, status, author) VALUES ('现行网格', 'active', 'planner-1');
INSERT INTO grids (plan_id, code, name, community_code, geom) VALUES
  (1, 'G001', '一网格', '370303001001',
   ST_Multi(ST_MakeEnvelope(118.0, 36.75, 118.01, 36.76, 4326)));
INSERT INTO buildings (code, households, population, floors, kind, community_code, geom) VALUES
  ('B1', 120, 300, 18, 'tower', '370303001001',
   ST_MakeEnvelope(118.001, 36.751, 118.002, 36.752, 4326));
INSERT INTO grid_members VALUES (1, 1, 1);
INSERT INTO cameras (code, name, class, kind, azimuth, geom) VALUES
  ('37030300001310000001', '东门', 'A', 'dome', 45.5,
   ST_SetSRID(ST_MakePoint(118.0015, 36.7515), 4326));
INSERT INTO camera_views (camera_id, geom, area_m2) VALUES
  (1, ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(118.0015, 36.7515), 4326), 0.0003)), 1234.5);
{incidents}
INSERT INTO roads (name, class, geom) VALUES
  ('人民路', 'arterial',
   ST_Multi(ST_SetSRID(ST_MakeLine(ST_MakePoint(118.0, 36.76), ST_MakePoint(118.1, 36.76)), 4326)));
INSERT INTO waterways (name, geom) VALUES
  ('孝妇河',
   ST_SetSRID(ST_MakeLine(ST_MakePoint(118.0, 36.77), ST_MakePoint(118.1, 36.78)), 4326));
INSERT INTO places (name, kind, key, geom) VALUES
  ('实验小学', 'school', true, ST_SetSRID(ST_MakePoint(118.003, 36.752), 4326));
INSERT INTO coverage_gaps (geom, area_m2, incidents, priority) VALUES
  (ST_Multi(ST_MakeEnvelope(118.004, 36.754, 118.005, 36.755, 4326)), 9876.5, 3, 0.7);
INSERT INTO api_keys (key_id, name, role, key_hash) VALUES ('0123456789ab', 'ops', 'admin', 'ff');
INSERT INTO audit_log (actor, action, target, detail) VALUES
  ('key:0123456789ab', 'grid_plan.publish', 'grid_plans/1', '{"version": 1}');
INSERT INTO plan_edits (plan_id, version, actor, kind, detail) VALUES
  (1, 1, 'planner-1', 'move_building', '{"building": 1}');
INSERT INTO posts (code, name, kind, mode, turnout_s, geom) VALUES
  ('P1', '车站警务站', 'police_post', 'drive', 60, ST_SetSRID(ST_MakePoint(118.02, 36.76), 4326));
INSERT INTO response_network (roads_version, metric_epsg) VALUES (1, 32650);
INSERT INTO response_edges (id, road_id, source, target, length_m, drive_cost, drive_reverse_cost,
                            walk_cost, geom) VALUES
  (1, 1, 1, 2, 8900.0, 801.0, 801.0, 6408.0,
   ST_SetSRID(ST_MakeLine(ST_MakePoint(118.0, 36.76), ST_MakePoint(118.1, 36.76)), 4326));
INSERT INTO response_areas (mode, minutes, overlap, post_code, post_name, households, population,
                            area_m2, geom) VALUES
  ('drive', 5, 'per_post', 'P1', '车站警务站', 120, 300, 5000.0,
   ST_Multi(ST_MakeEnvelope(118.01, 36.755, 118.03, 36.765, 4326)));
INSERT INTO incident_history (incident_id, actor, field, old_value, new_value) VALUES
  (1, 'load seed.csv', 'status', '"received"', '"resolved"');
INSERT INTO safety_index (unit_level, period, code, name, index, rank, change, risk, components,
                          geom) VALUES
  ('street', '2026-10', '370303001', '车站街道', 72.5, 1, -1.5, 'blue', '{"incidents": 0.4}',
   ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.05, 36.80, 4326)));
"""




def incidents_sql(n: int = 250, res: int = 12) -> str:
    """``n`` incidents along a street, hourly, with their real H3 cells."""
    rows = []
    for g in range(1, n + 1):
        lon, lat = 118.001 + g * 1e-5, 36.751 + (g % 7) * 1e-4
        cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, res))
        exact = ", ".join(str(v) for v in cells_of(lon, lat).values())
        category = ("dispute", "hazard", "public_order")[g % 3]
        rows.append(f"('E{g}', '12345', '{category}', '2025-01-01T08:00:00+08'::timestamptz + "
                    f"{g} * interval '1 hour', {cell}, {exact}, 1, "
                    f"ST_SetSRID(ST_MakePoint({lon!r}, {lat!r}), 4326))")
    return ("INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            "h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12, grid_id, geom) "
            "VALUES\n" + ",\n".join(rows) + ";")


def seed_sql() -> str:
    """SQL filling every data table of an empty, migrated database."""
    return _SEED.replace("{incidents}", incidents_sql())
