"""The Dask client batch jobs run on: an existing scheduler, or a local cluster.

``--scheduler ADDRESS`` (or ``ONEMAP_DASK_SCHEDULER``) connects to a running
``dask scheduler``; otherwise a ``LocalCluster`` of ``ONEMAP_DASK_WORKERS`` worker
processes with ``ONEMAP_DASK_MEMORY_PER_WORKER`` each is started for the job and
stopped after it. The same job code runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from geo.batch.settings import DaskSettings
from geo.errors import InvalidInput


@contextmanager
def dask_client(settings: DaskSettings, scheduler: str | None = None
                ) -> Iterator:
    """A ``distributed.Client`` for one batch job (closed, and a local cluster stopped, after).

    Raises
    ------
    InvalidInput
        When the scheduler address cannot be reached.
    """
    from distributed import Client, LocalCluster

    address = scheduler or settings.scheduler
    if address:
        try:
            client = Client(address, timeout=settings.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise InvalidInput(f"cannot reach the Dask scheduler at {address} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=settings.workers,
                           threads_per_worker=settings.threads_per_worker,
                           memory_limit=settings.memory_per_worker, processes=True,
                           dashboard_address=None)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def tree_reduce(client, futures: list, fn, width: int = 8):
    """Combine ``futures`` with ``fn(*parts)`` on the workers, ``width`` at a time.

    Returns one future; no intermediate result travels through the client.
    """
    if not futures:
        raise InvalidInput("nothing to reduce")
    level = list(futures)
    while True:
        level = [client.submit(fn, *level[i:i + width], pure=False)
                 for i in range(0, len(level), width)]
        if len(level) == 1:
            return level[0]


@contextmanager
def task_errors(what: str) -> Iterator[None]:
    """Turn a failure inside a Dask task into one domain error naming the job.

    A bad file or a worker lost too often ends the job with one line; domain
    errors pass through unchanged.
    """
    from geo.errors import OnemapError

    try:
        yield
    except OnemapError:
        raise
    except Exception as exc:  # noqa: BLE001 - any task failure becomes one clear line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BatchFailed(f"{what} failed: {type(exc).__name__}: {detail}"[:500]) from exc


class BatchFailed(InvalidInput):
    """A batch job stopped because one of its tasks failed (nothing was written)."""

    code = "batch_failed"
