"""A real uvicorn server in a subprocess, for tests that need one (faults, fuzzing)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env_overrides: dict[str, str], ready_path: str = "/readyz",
          timeout_s: float = 90, log_level: str = "warning") -> Iterator[str]:
    """Run ``uvicorn api.asgi:app`` with only the given ``ONEMAP_*`` variables; yield its URL.

    ``log_level="info"`` keeps uvicorn's access log (read it with :func:`server_log_tail`).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env["PYTHONWARNINGS"] = "ignore"  # keep the log to what went wrong
    env.update(env_overrides)
    log_path = ROOT / "data" / f"test-server-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", log_level],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(base + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        log_path.unlink(missing_ok=True)


def server_log_tail(base: str) -> str:
    """The last lines a running test server wrote (for failure messages)."""
    port = base.rsplit(":", 1)[-1]
    p = ROOT / "data" / f"test-server-{port}.log"
    return p.read_text()[-8000:] if p.exists() else ""
