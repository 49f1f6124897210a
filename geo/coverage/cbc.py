"""CBC as a child process with a hard deadline.

CBC's own ``-sec`` limit is checked only inside branch and bound: preprocessing, the
root LP and cut generation of a large problem can run for minutes past it (k = 500
on the city ran 3 min 25 s against a 30 s limit). Here the child is started in its
own process group, watched, and killed when ``time_limit + grace_s`` passes or when
``cancel`` is set (the client went away). A killed run has no solution.

Examples
--------
>>> import pulp
>>> prob = pulp.LpProblem("p", pulp.LpMaximize)
>>> x = pulp.LpVariable("x", 0, 3, cat="Integer")
>>> prob += x
>>> run = run_cbc(prob, time_limit=10)
>>> run.finished, x.value()
(True, 3.0)
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 2.0


@dataclass
class CbcRun:
    """What became of one CBC run."""

    finished: bool  # False: killed at the deadline or on cancel (no solution read)
    log: str
    seconds: float
    cancelled: bool = False


def run_cbc(prob, time_limit: float, *, grace_s: float = GRACE_S,
            cancel: threading.Event | None = None) -> CbcRun:
    """Solve ``prob`` (a pulp problem) with CBC; values are assigned when it finishes."""
    import pulp

    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="onemap-cbc-") as tmp:
        mps, sol, log_path = (str(Path(tmp) / n) for n in ("p.mps", "p.sol", "cbc.log"))
        vs, var_names, con_names, _ = prob.writeMPS(mps, rename=1)
        args = [solver.path, mps, *(["-max"] if prob.sense == pulp.LpMaximize else []),
                "-sec", f"{time_limit:g}", "-solve", "-printingOptions", "all",
                "-solution", sol]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finished = _wait(proc, t0 + time_limit + grace_s, cancel)
        text = Path(log_path).read_text(errors="replace")
        if finished and proc.returncode == 0 and os.path.exists(sol):
            status, values, *_ = solver.readsol_MPS(sol, prob, vs, var_names, con_names)
            prob.assignVarsVals(values)
        else:
            finished = False
    return CbcRun(finished, text, time.monotonic() - t0,
                  cancelled=bool(cancel is not None and cancel.is_set()))


def _wait(proc: subprocess.Popen, deadline: float, cancel: threading.Event | None) -> bool:
    """Wait for the child; kill its process group at the deadline or on cancel."""
    try:
        while True:
            try:
                proc.wait(timeout=0.1)
                return True
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                _kill(proc)
                return False
    except BaseException:
        _kill(proc)
        raise


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
