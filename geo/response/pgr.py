"""pgRouting on the same graph: ``pgr_drivingDistance`` from a post (a check and a peer).

The mode graph (posts already joined as nodes) is written to a temporary table in
pgRouting's edge shape; ``pgr_drivingDistance`` then gives the seconds from a post's
node to every node within a limit, to which the post's turnout and connector are
added — the numbers :meth:`ModeGraph.node_seconds` computes with scipy.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, text

from geo.response.graph import ModeGraph

_TEMP = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS response_pgr_edges (
        id bigint, source bigint, target bigint, cost float8, reverse_cost float8
    ) ON COMMIT DROP
    """
)
_FILL = text(
    """
    INSERT INTO response_pgr_edges
    SELECT * FROM unnest(CAST(:id AS bigint[]), CAST(:s AS bigint[]), CAST(:t AS bigint[]),
                         CAST(:c AS float8[]), CAST(:r AS float8[]))
    """
)
_DD = text(
    """
    SELECT node, agg_cost FROM pgr_drivingDistance(
        'SELECT id, source, target, cost, reverse_cost FROM response_pgr_edges',
        CAST(:start AS bigint), CAST(:limit AS float8), directed => true)
    """
)


def write_graph(conn: Connection, graph: ModeGraph) -> None:
    """The graph's edges into ``response_pgr_edges`` (dropped at commit); node ids + 1."""
    conn.execute(_TEMP)
    conn.execute(text("TRUNCATE response_pgr_edges"))
    n = len(graph.src)
    conn.execute(_FILL, {"id": list(range(1, n + 1)), "s": (graph.src + 1).tolist(),
                         "t": (graph.tgt + 1).tolist(),
                         "c": np.where(graph.cost >= 0, np.maximum(graph.cost, 1e-9),
                                       -1.0).tolist(),
                         "r": np.where(graph.reverse_cost >= 0,
                                       np.maximum(graph.reverse_cost, 1e-9), -1.0).tolist()})


def pgr_node_seconds(conn: Connection, graph: ModeGraph, post: int, seconds: float,
                     written: bool = False) -> dict[int, float]:
    """Node → seconds from post ``post`` (turnout and connector included) up to ``seconds``."""
    if not written:
        write_graph(conn, graph)
    offset = float(graph.post_offset[post])
    rows = conn.execute(_DD, {"start": int(graph.post_node[post]) + 1,
                              "limit": max(seconds - offset, 0.0)}).all()
    return {int(node) - 1: float(cost) + offset for node, cost in rows}
