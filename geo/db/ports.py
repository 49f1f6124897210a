"""Whose PostgreSQL answers on a port: this cluster's, another one's, or nobody's.

Two clones on one machine both default to 127.0.0.1:55432. A cluster is "running"
only when its own ``postmaster.pid`` names a live process started on this data
directory; a server on the port that is not that process belongs to someone else.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

_PORT_LINE = re.compile(r"^\s*port\s*=\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Postmaster:
    """What ``postmaster.pid`` says (lines 1, 2 and 4)."""

    pid: int
    directory: Path
    port: int


def read_pid_file(directory: Path) -> Postmaster | None:
    """The postmaster recorded in ``directory/postmaster.pid`` (None when absent/garbled)."""
    try:
        lines = (directory / "postmaster.pid").read_text().splitlines()
        return Postmaster(int(lines[0]), Path(lines[1]), int(lines[3]))
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True when a process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_directory(pid: int) -> Path | None:
    """The working directory of ``pid`` (a postmaster's is its data directory), if readable."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def own_postmaster(directory: Path) -> Postmaster | None:
    """The live postmaster of this data directory, or None (no pid file, dead, or not ours).

    A pid file copied from another cluster names that cluster's directory (or a
    process working elsewhere) and does not count.
    """
    pm = read_pid_file(directory)
    if pm is None or not alive(pm.pid):
        return None
    here = directory.resolve()
    if pm.directory.resolve() != here:
        return None
    cwd = process_directory(pm.pid)
    if cwd is not None and cwd.resolve() != here:
        return None
    return pm


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        try:
            s.connect((host, port))
        except OSError:
            return False
    return True


def _listener_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:``port`` (Linux ``/proc``; None when unknown)."""
    want = f"0100007F:{port:04X}"
    inodes = set()
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[1] == want and f[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{f[9]}]")
    except OSError:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def describe_listener(port: int) -> str:
    """Who serves ``port``, in words: its data directory when it can be found."""
    pid = _listener_pid(port)
    where = process_directory(pid) if pid else None
    if where is not None and (where / "PG_VERSION").exists():
        return f"another PostgreSQL (data directory {where}, PID {pid})"
    if pid:
        return f"another program (PID {pid})"
    return "another server"


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on ``host:port`` now (bound as PostgreSQL binds).

    Nothing listening is not enough: a client connection whose local end happens
    to be that port (any outgoing connection takes an ephemeral port) makes the
    server's bind fail.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(start: int, tries: int = 100) -> int | None:
    """The first port from ``start`` a server can take (None when none): free and bindable."""
    for port in range(start, min(start + tries, 65536)):
        if not listening(port) and bindable(port):
            return port
    return None


def recorded_port(conf: Path) -> int | None:
    """The last ``port = N`` in a ``postgresql.conf`` (None when absent)."""
    try:
        found = _PORT_LINE.findall(conf.read_text())
    except OSError:
        return None
    return int(found[-1]) if found else None


def record_port(conf: Path, port: int) -> None:
    """Set ``port = N`` in ``postgresql.conf`` (every active port line, or one appended)."""
    text = conf.read_text()
    if _PORT_LINE.search(text):
        text = _PORT_LINE.sub(f"port = {port}", text)
    else:
        text += f"\nport = {port}\n"
    conf.write_text(text)
