"""The exact siting solver never outlives its time limit or its client.

CBC's own ``-sec`` is checked only inside branch and bound, so a large problem ran
minutes past it. The child is now killed at the limit (+ grace) or on cancel, the
greedy answer is returned, and no CBC process is left behind.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import psutil
import pytest
from scipy import sparse

from geo.coverage.cbc import GRACE_S
from geo.coverage.siting import ExactMCLP, LazyGreedy


def _cbc_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "cbc" in (p.info["name"] if hasattr(p, "info") else p.name()).lower()]


@pytest.fixture(scope="module")
def hard_problem():
    """1,500 candidates × 15,000 demand points, k = 300: CBC needs far more than 1 s."""
    rng = np.random.default_rng(1)
    n, m = 1500, 15000
    rows, cols = rng.integers(0, n, m * 6), np.repeat(np.arange(m), 6)
    A = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, m))
    return A, rng.random(m)


def _watch_for_cbc(stop: threading.Event, seen: list) -> None:
    while not stop.is_set():
        seen.extend(p.pid for p in _cbc_children())
        time.sleep(0.05)


@pytest.mark.parametrize("cancel_after", [None, 0.5])
def test_cbc_is_ended_at_the_limit_or_on_cancel(hard_problem, cancel_after):
    A, w = hard_problem
    limit = 1.0
    cancel = threading.Event()
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_watch_for_cbc, args=(stop, seen))
    watcher.start()
    started = {}

    def cancel_once_cbc_runs():
        while not seen and not stop.is_set():
            time.sleep(0.02)
        started["t"] = time.monotonic()
        time.sleep(cancel_after)
        cancel.set()

    if cancel_after is not None:
        threading.Thread(target=cancel_once_cbc_runs, daemon=True).start()
    try:
        est = ExactMCLP(300, time_limit=limit).fit(A, w, cancel=cancel)
        ended = time.monotonic()
    finally:
        stop.set()
        watcher.join()
    assert seen, "CBC never ran"
    assert _cbc_children() == []  # nothing outlives the answer
    if cancel_after is None:
        assert est.status_ == "killed_at_time_limit"
    else:
        assert est.status_ == "cancelled"
        assert ended - started["t"] < cancel_after + 1.0
    # The answer falls back to the greedy one: k sites, the greedy objective.
    greedy = LazyGreedy(300).fit(A, w)
    assert len(est.chosen_) == 300 and est.objective_ == pytest.approx(
        float(w[np.asarray(A[greedy.chosen_].sum(axis=0)).ravel() > 0].sum()))


def test_cbc_time_from_start_to_kill_is_bounded(hard_problem):
    import pulp

    from geo.coverage.cbc import run_cbc

    A, w = hard_problem
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(A.shape[0])]
    At = A.T.tocsr()
    y = [pulp.LpVariable(f"y{i}", 0, 1) for i in range(A.shape[1])]
    prob += pulp.lpSum(float(w[i]) * y[i] for i in range(A.shape[1]))
    for i in range(A.shape[1]):
        prob += y[i] <= pulp.lpSum(x[j] for j in At.indices[At.indptr[i]:At.indptr[i + 1]])
    prob += pulp.lpSum(x) <= 300
    run = run_cbc(prob, time_limit=1.0)
    assert not run.finished
    assert run.seconds < 1.0 + GRACE_S + 1.0, run.seconds
    assert _cbc_children() == []
