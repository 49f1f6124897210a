"""A pytest plugin for tests/test_markers.py: after collection, write what each test needs.

For every collected test it records its markers and, read from the source of the test and of
every fixture it reaches, whether it touches a database, launches Chromium or runs slow work.
The facts come from the code, not from the marking hook in conftest.py, so the two can be
compared. Loaded with ``-p _marker_report``; the JSON goes to ``$ONEMAP_MARKER_REPORT``.
"""

from __future__ import annotations

import inspect
import json
import os
import re

import pytest

# What in a test's or fixture's own code shows the need (each pattern names the call).
NEEDS = {
    "db": re.compile(r"\b(?:cluster\.(?:start|init)|psycopg\.connect|create_database|"
                     r"clone_database|make_engine)\("),
    "browser": re.compile(r"\bchromium\.launch\("),
    "slow": re.compile(r"\bLocalCluster\(|_demo_database\([^)]*\"city\""),
}


def _source(func) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def _needs(item: pytest.Item, cache: dict) -> list[str]:
    """Needs shown by the test function and by each fixture of its closure."""
    sources = [_source(getattr(item, "function", None))]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        for fixturedef in defs:
            func = fixturedef.func
            if func not in cache:
                cache[func] = _source(func)
            sources.append(cache[func])
    text = "\n".join(sources)
    return sorted(need for need, pattern in NEEDS.items() if pattern.search(text))


def pytest_collection_finish(session: pytest.Session) -> None:
    cache: dict = {}
    rows = [{"nodeid": item.nodeid,
             "markers": sorted({mark.name for mark in item.iter_markers()}),
             "needs": _needs(item, cache)}
            for item in session.items]
    with open(os.environ["ONEMAP_MARKER_REPORT"], "w", encoding="utf-8") as f:
        json.dump(rows, f)
