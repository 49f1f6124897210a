"""Differences between two plans: grids added / removed / changed, households moved.

Grids are matched by code. A grid is *changed* when its set of buildings or its
polygon differs. A building *moves* when the code of its grid differs.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from geo.gridplan import store

_GRIDS = """
    SELECT g.code, g.community_code, g.households, md5(ST_AsBinary(g.geom)) AS shape,
           COALESCE((SELECT array_agg(m.building_id ORDER BY m.building_id)
                       FROM grid_members m WHERE m.grid_id = g.id), '{}') AS members,
           ST_AsGeoJSON(g.geom, 7) AS geojson
      FROM grids g WHERE g.plan_id = :plan
"""

_MOVES = """
    SELECT b.id, b.households, ga.code AS a_code, gb.code AS b_code
      FROM buildings b
      LEFT JOIN grid_members ma ON ma.building_id = b.id AND ma.plan_id = :a
      LEFT JOIN grids ga ON ga.id = ma.grid_id
      LEFT JOIN grid_members mb ON mb.building_id = b.id AND mb.plan_id = :b
      LEFT JOIN grids gb ON gb.id = mb.grid_id
     WHERE ga.code IS DISTINCT FROM gb.code
     ORDER BY b.id
"""


def diff_plans(conn: Connection, a: int, b: int, moves_limit: int = 5000) -> dict:
    """What changes from plan ``a`` to plan ``b``, with a GeoJSON layer of the changes."""
    store.plan_row(conn, a)
    store.plan_row(conn, b)
    ga = {r["code"]: dict(r) for r in conn.execute(text(_GRIDS), {"plan": a}).mappings()}
    gb = {r["code"]: dict(r) for r in conn.execute(text(_GRIDS), {"plan": b}).mappings()}
    added = sorted(set(gb) - set(ga))
    removed = sorted(set(ga) - set(gb))
    changed = sorted(
        c
        for c in set(ga) & set(gb)
        if ga[c]["members"] != gb[c]["members"] or ga[c]["shape"] != gb[c]["shape"]
    )
    moves = conn.execute(text(_MOVES), {"a": a, "b": b}).mappings().all()
    features = (
        [_feature(gb[c], "added", None) for c in added]
        + [_feature(ga[c], "removed", None) for c in removed]
        + [_feature(gb[c], "changed", ga[c]) for c in changed]
    )
    return {
        "a": a,
        "b": b,
        "added": added,
        "removed": removed,
        "changed": changed,
        "unchanged": len(set(ga) & set(gb)) - len(changed),
        "buildings_moved": len(moves),
        "households_moved": int(sum(m["households"] for m in moves)),
        "moves": [dict(m) for m in moves[:moves_limit]],
        "moves_truncated": len(moves) > moves_limit,
        "layer": {"type": "FeatureCollection", "features": features},
    }


def _feature(row: dict, change: str, before: dict | None) -> dict:
    props = {
        "code": row["code"],
        "community_code": row["community_code"],
        "change": change,
        "households": row["households"],
    }
    if before is not None:
        props["households_before"] = before["households"]
        gained = set(row["members"]) - set(before["members"])
        lost = set(before["members"]) - set(row["members"])
        props["buildings_gained"] = len(gained)
        props["buildings_lost"] = len(lost)
    return {"type": "Feature", "properties": props, "geometry": json.loads(row["geojson"])}
