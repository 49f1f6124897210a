"""Data versions per layer: the one reader of the ``layer_versions`` table.

Statement triggers (migration 0001) bump a layer's version on every insert, update
or delete, so a tuple of versions is a cache key that changes with any edit of the
layers it names. The tiles keep an in-memory mirror of the whole table refreshed on
NOTIFY (:mod:`tiles.versions`); everything else asks here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

_SQL = "SELECT layer, version FROM layer_versions WHERE layer = ANY({param})"
_ALCHEMY = text(_SQL.format(param=":layers"))
_DBAPI = _SQL.format(param="%s")


def layer_versions(conn, layers: Iterable[str]) -> dict[str, int]:
    """``{layer: version}`` for ``layers``, in the order given (0: never written).

    Parameters
    ----------
    conn : sqlalchemy.Connection or DB-API cursor
        Where to read; a driver cursor (psycopg) reads inside the transaction it is
        in, e.g. with the rows of a repeatable-read snapshot.
    layers : iterable of str
        Layer (table) names.
    """
    names = list(layers)
    if isinstance(conn, Connection):
        rows = conn.execute(_ALCHEMY, {"layers": names}).all()
    else:
        rows = conn.execute(_DBAPI, (names,)).fetchall()
    found = {str(layer): int(version) for layer, version in rows}
    return {layer: found.get(layer, 0) for layer in names}
