"""Helpers of the batch tests: export the demo once, read what the workers did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def onemap(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the ``onemap`` CLI of this tree in a subprocess."""
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def task_workers(stream: list[dict], prefix: str) -> dict[str, int]:
    """Tasks whose key starts with ``prefix`` per worker address, from a task stream."""
    out: dict[str, int] = {}
    for rec in stream:
        key = rec["key"][0] if isinstance(rec["key"], tuple) else rec["key"]
        if str(key).startswith(prefix):
            out[rec["worker"]] = out.get(rec["worker"], 0) + 1
    return out
