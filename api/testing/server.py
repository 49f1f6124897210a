"""The service (or another ASGI app) in a real uvicorn subprocess on a free loopback port.

The test suite (faults, fuzzing, browsers) and the benchmarks (load, map, tiles) start
their servers here, so they start, wait and stop them the same way.

Examples
--------
>>> 1024 <= free_port() < 65536
True
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The repository (the server runs from here, so it imports this tree's code).
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_path(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"onemap-server-{port}.log"


class Server:
    """A uvicorn process serving ``app``; its output goes to a log file.

    Parameters
    ----------
    env : dict of str
        Variables set for the server, over the caller's environment.
    app : str
        The ASGI app (``module:attribute``).
    keep_onemap_env : bool
        Keep the caller's ``ONEMAP_*`` variables (default: only those in ``env``).
    workers : int
        uvicorn worker processes.
    log_level : str
        uvicorn's log level (``info`` keeps the access log).
    access_log : bool
        Write the access log (at ``info``).
    log : pathlib.Path, optional
        Where the output goes and stays; by default a temporary file removed on :meth:`stop`.
    """

    def __init__(self, env: dict[str, str], *, app: str = "api.asgi:app",
                 keep_onemap_env: bool = False, workers: int = 1, log_level: str = "warning",
                 access_log: bool = True, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log or _log_path(self.port)
        self._keep_log = log is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        full = {k: v for k, v in os.environ.items()
                if keep_onemap_env or not k.startswith("ONEMAP_")}
        full["PYTHONWARNINGS"] = "ignore"  # keep the log to what went wrong
        full.update(env)
        args = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(workers), "--log-level", log_level]
        if not access_log:
            args.append("--no-access-log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=full, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait(self, path: str = "/readyz", timeout_s: float = 120) -> Server:
        """Return once ``path`` answers 200.

        Raises
        ------
        RuntimeError
            The server exited, or did not answer within ``timeout_s``; the message holds
            the end of its log.
        """
        import httpx

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail(3000)}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server not ready in {timeout_s:g} s: "
                                   f"{self.log_tail(3000)}")
            time.sleep(0.3)

    def log_tail(self, chars: int = 8000) -> str:
        """The last ``chars`` characters the server wrote."""
        self._log.flush()
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout_s: float = 15) -> None:
        """Terminate the process (killed when it does not end in ``timeout_s``)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
            if not self._keep_log:
                self.log_path.unlink(missing_ok=True)


@contextmanager
def serve(env_overrides: dict[str, str], ready_path: str = "/readyz",
          timeout_s: float = 90, log_level: str = "warning") -> Iterator[str]:
    """Run ``uvicorn api.asgi:app`` with only the given ``ONEMAP_*`` variables; yield its URL.

    ``log_level="info"`` keeps uvicorn's access log (read it with :func:`server_log_tail`).
    """
    server = Server(env_overrides, log_level=log_level)
    try:
        server.wait(ready_path, timeout_s)
        yield server.url
    finally:
        server.stop()


def server_log_tail(base: str, chars: int | None = 8000) -> str:
    """The last ``chars`` characters (None: all) a running server started here wrote."""
    path = _log_path(int(base.rsplit(":", 1)[-1]))
    text = path.read_text() if path.exists() else ""
    return text if chars is None else text[-chars:]
