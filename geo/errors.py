"""Domain errors.

``geo`` raises these; ``api/errors.py`` maps them to HTTP codes and the CLI
prints their message on one line.
"""

from __future__ import annotations


class OnemapError(Exception):
    """Base of every domain error; ``code`` is a stable machine-readable name."""

    code = "error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidInput(OnemapError):
    """A parameter or a value in a request or a file is not acceptable."""

    code = "invalid_input"


class InvalidGeometry(InvalidInput):
    """A geometry is malformed, of the wrong type, or cannot be repaired."""

    code = "invalid_geometry"


class OutsideServiceArea(InvalidInput):
    """A feature lies far outside the service area."""

    code = "outside_service_area"


class UnknownLayer(InvalidInput):
    """A layer or collection name that does not exist."""

    code = "unknown_layer"


class FileFormatError(InvalidInput):
    """A file cannot be read (format, encoding, broken row)."""

    code = "bad_file"


class InvalidRows(InvalidInput):
    """Rows of a file or request fail validation (the message names the first one)."""

    code = "invalid_rows"


class TooLarge(InvalidInput):
    """The request would exceed a configured size or time limit (the message names it)."""

    code = "too_large"


class OverTimeBudget(TooLarge):
    """An analysis ran past its configured time budget and was abandoned."""

    code = "time_budget_exceeded"


class NotFound(OnemapError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(OnemapError):
    """The request conflicts with the current state."""

    code = "conflict"


class PlanConflict(Conflict):
    """A plan edit was based on a stale plan version (optimistic locking)."""

    code = "plan_version_conflict"


class Infeasible(OnemapError):
    """The analysis cannot produce an answer for this input (and says why)."""

    code = "infeasible"


class NotEnoughData(InvalidInput):
    """Too few observations for a meaningful answer."""

    code = "not_enough_data"


class DatabaseUnavailable(OnemapError):
    """The database cannot be reached right now."""

    code = "database_unavailable"


class ClusterError(OnemapError):
    """The embedded PostGIS cluster could not be created, started or stopped."""

    code = "cluster_error"
