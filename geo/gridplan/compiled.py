"""Loading the districting's compiled parts before anyone waits for them.

The local search (:mod:`~geo.gridplan.localsearch`), the piece repair
(:mod:`~geo.gridplan.pieces`), the spanning trees (:mod:`~geo.gridplan.spanning`),
the joining of tower groups (:mod:`~geo.gridplan.linkpaths`) and the
needed-links search (:mod:`~geo.gridplan.cutpoints`) are compiled by
numba on their first run on a machine (seconds each) and loaded from numba's
disk cache after that (well under a second per process). :func:`load_compiled`
runs each on tiny inputs: the service calls it in the background when it
starts, the worker processes when they start, so no request pays either.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from scipy import sparse

log = logging.getLogger(__name__)


def load_compiled() -> float:
    """Compile (or load from the cache) and run the compiled parts once; seconds taken.

    numba itself is imported here, not when this module is: the service imports this
    module at start-up and loads the parts in the background.
    """
    t0 = time.perf_counter()
    from geo.gridplan.cutpoints import needed_links
    from geo.gridplan.linkpaths import group_links, tower_graph
    from geo.gridplan.localsearch import rebalance
    from geo.gridplan.pieces import make_connected
    from geo.gridplan.recombine import band_cost
    from geo.gridplan.spanning import spanning_forest

    path = sparse.csr_array(sparse.diags([1.0, 1.0], [-1, 1], shape=(4, 4)))
    rebalance(np.array([0, 1, 1, 1]), np.full(4, 100.0), path, 200, 170, 230)
    make_connected(np.array([0, 1, 0, 1]), path, np.ones(4))
    spanning_forest(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]), 0, np.ones(3))
    heavy = np.array([True, False, True, False])
    needed_links(path.indptr, path.indices, heavy, [{0, 2}])
    group_links(path.indptr, path.indices, heavy, [[0, 2]], 3)
    tower_graph(path, heavy, 3)
    band_cost(np.array([250.0, 300.0]), 300, 255, 345)
    return time.perf_counter() - t0


def load_compiled_in_background() -> threading.Thread:
    """:func:`load_compiled` in a daemon thread (started, returned)."""

    def run() -> None:
        log.info("grid planning: compiled parts ready in %.1f s", load_compiled())

    thread = threading.Thread(target=run, name="gridplan-compiled", daemon=True)
    thread.start()
    return thread
