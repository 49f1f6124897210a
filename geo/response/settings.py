"""Settings of the response-circle analyses (``ONEMAP_RESPONSE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern

#: The fields that price or shape the stored network (``response_edges``).
_NETWORK_FIELDS = ("arterial_kmh", "join_gap_m", "local_kmh", "secondary_kmh", "walk_kmh")


class ResponseSettings(BaseSettings):
    """Speeds, connectors, road-side width and limits of the response analyses.

    Examples
    --------
    >>> ResponseSettings(_env_file=None).drive_speed("local")
    20.0
    """

    model_config = concern("RESPONSE")

    connector_kmh: float = Field(5.0, gt=0, le=200, description=(
        "speed (km/h) on the straight connectors post → road and road → place"))
    roadside_m: float = Field(50.0, ge=0, le=1000, description=(
        "how far either side of a reached street piece a response area extends (m)"))
    arterial_kmh: float = Field(40.0, gt=0, le=200, description="driving speed on arterials (km/h)")
    secondary_kmh: float = Field(30.0, gt=0, le=200, description=(
        "driving speed on secondary roads (km/h)"))
    local_kmh: float = Field(20.0, gt=0, le=200, description="driving speed on local roads (km/h)")
    join_gap_m: float = Field(0.0, ge=0, le=50, description=(
        "a road end this close (m) to another road is drawn on to meet it when the network "
        "is built (digitising gaps, streets clipped to an outline; 1-3 m suits most "
        "surveyed data); 0 keeps ends as drawn"))
    walk_kmh: float = Field(5.0, gt=0, le=30, description="walking speed on every road (km/h)")
    incident_days: int = Field(90, ge=1, le=3660, description=(
        "incidents of the last N days count in the figures"))
    max_snap_m: float = Field(2000.0, gt=0, description=(
        "a point farther than this from every road is outside the service area (m)"))
    max_minutes: float = Field(60.0, gt=0, le=600, description=(
        "the largest time break (minutes) a request may ask for"))
    warm_up: bool = Field(True, description=(
        "the server computes every mode's reach in the background at start and after a "
        "change of roads, posts, buildings, places or incidents (geo/response/warm.py)"))
    warm_poll_s: float = Field(5.0, gt=0, le=3600, description=(
        "seconds between the warm-up's looks at the layer versions"))
    incidents_lag_s: float = Field(60.0, ge=0, le=3600, description=(
        "while the server's warm-up reads changed incidents, its answers may use the "
        "incidents read up to this many seconds ago (marked incidents_stale); 0: wait"))

    def network_recipe(self) -> str:
        """The settings the stored network's edges are built with, as a stable string.

        A network built with another recipe is rebuilt
        (:func:`geo.response.network.ensure_network`).

        Examples
        --------
        >>> ResponseSettings(_env_file=None, join_gap_m=2).network_recipe()
        'arterial_kmh=40.0;join_gap_m=2.0;local_kmh=20.0;secondary_kmh=30.0;walk_kmh=5.0'
        """
        return ";".join(f"{name}={float(getattr(self, name))}" for name in _NETWORK_FIELDS)

    def drive_speed(self, road_class: str) -> float:
        """Default driving speed (km/h) of a road class."""
        return {"arterial": self.arterial_kmh, "secondary": self.secondary_kmh}.get(
            road_class, self.local_kmh)
