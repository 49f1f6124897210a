"""Keep the last computed 平安指数 per unit and period in ``safety_index`` (revision 0008).

The OGC collection and the tile layer ``safety_index`` read this table; ``onemap index``
and ``GET /api/v1/safety-index`` (with the configured weights) write it.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, text

_UPSERT = text("""
    INSERT INTO safety_index (unit_level, period, code, name, index, rank, change, risk,
                              components, computed_at, geom)
    SELECT :level, :period, u.code, u.name, u.index, u.rank, u.change, u.risk,
           u.components, now(), s.geom
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(code text, name text, index float8,
         rank int, change float8, risk text, components jsonb)
    JOIN (SELECT code, geom FROM admin_areas WHERE level = :level
          UNION ALL
          SELECT g.code, g.geom FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id
          WHERE p.status = 'active' AND :level = 'grid') AS s ON s.code = u.code
    ON CONFLICT ON CONSTRAINT safety_index_unit_period DO UPDATE
    SET name = EXCLUDED.name, index = EXCLUDED.index, rank = EXCLUDED.rank,
        change = EXCLUDED.change, risk = EXCLUDED.risk, components = EXCLUDED.components,
        computed_at = EXCLUDED.computed_at, geom = EXCLUDED.geom
""")


def store_index(engine: Engine, answer: dict) -> int:
    """Write the units of an index answer (not the city); returns the rows written."""
    if answer["level"] == "city":
        return 0
    rows = [{"code": f["properties"]["code"], "name": f["properties"]["name"],
             "index": f["properties"]["index"], "rank": f["properties"]["rank"],
             "change": f["properties"]["change"], "risk": f["properties"]["level"],
             "components": f["properties"]["components"]} for f in answer["features"]]
    with engine.begin() as conn:
        done = conn.execute(_UPSERT, {"level": answer["level"], "period": answer["period"],
                                      "rows": orjson.dumps(rows).decode()})
    return int(done.rowcount)
