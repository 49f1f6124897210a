"""Liveness, readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from api.deps import StateDep
from api.errors import RETRY_AFTER_S
from api.models.base import documented
from api.models.health import Health, Ready
from api.responses import OrjsonResponse
from geo.db.engine import schema_revision
from geo.db.migrate import head_revision
from geo.errors import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses=documented(Ready, "ready"))
async def readyz(state: StateDep) -> OrjsonResponse:
    """200 once the database is reachable and migrated to the code's head revision."""
    try:
        state.watch.check()
        rev = await run_in_threadpool(schema_revision, state.engine)
    except (SQLAlchemyError, DatabaseUnavailable):
        return OrjsonResponse(
            {"detail": "database unavailable", "code": "database_unavailable"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    head = head_revision()
    if rev != head:
        return OrjsonResponse(
            {"detail": f"database at revision {rev}, code expects {head}: run `onemap db migrate`",
             "code": "not_migrated"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return OrjsonResponse({"status": "ready", "revision": rev})
