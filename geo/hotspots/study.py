"""The study area of one analysis: its H3 cells, weights and outlines, cached.

Area: the union of the admin areas of the top level present (district, else
street, else community); with no admin areas, the incidents' bounding box grown
by ``ONEMAP_HOTSPOT_AREA_BUFFER_M``. Cells: centre in the area (and in the bbox
when one is given), plus every cell holding an incident (any time, any
category) whose centre is in the bbox — so the cell set, and therefore n in
Gi*, does not change with the time window or the category filter.
"""

from __future__ import annotations

import hashlib
import threading

import h3
import numpy as np
from scipy import sparse
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput
from geo.hotspots import cells as C
from geo.hotspots.cache import Lru  # noqa: F401  (re-exported)

M_PER_DEG = 111_320.0


class Study:
    """Sorted study cells at one resolution, with lazily built k-ring weights.

    Attributes
    ----------
    res : int
    cells : ndarray of int64 (sorted)
    source : str
        Where the area came from, e.g. ``admin_areas:district`` or ``incident_extent``.
    key : str
        Digest of the cell set (cache key of anything derived from it).
    """

    def __init__(self, res: int, cells: np.ndarray, source: str,
                 parent: Study | None = None, rows: np.ndarray | None = None):
        self.res, self.cells, self.source = res, cells, source
        self.key = hashlib.blake2b(cells.tobytes(), digest_size=12).hexdigest()
        self._parent, self._rows = parent, rows
        self._weights: dict[int, sparse.csr_matrix] = {}
        self._k_locks: dict[int, threading.Lock] = {}
        self._rings: list | None = None
        self._heads: list[bytes] | None = None
        self._ids: np.ndarray | None = None
        self._centres: np.ndarray | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def parent(self) -> Study | None:
        """The study this one was sliced from (``subset``), if any."""
        return self._parent

    @property
    def parent_rows(self) -> np.ndarray | None:
        """Rows of ``parent`` holding this study's cells."""
        return self._rows

    def weights(self, k: int) -> sparse.csr_matrix:
        """Binary k-ring weights among the study cells (built once per k)."""
        with self._lock:
            lock = self._k_locks.setdefault(k, threading.Lock())
        with lock:  # one builder per k; other k's and readers are not held up
            if k not in self._weights:
                if self._parent is not None:
                    full = self._parent.weights(k)
                    self._weights[k] = full[self._rows][:, self._rows].tocsr()
                else:
                    self._weights[k] = C.kring_weights(self.cells, k)
            return self._weights[k]

    def rings(self) -> list:
        """GeoJSON outline of every cell (built once)."""
        if self._parent is not None and self._rings is None:
            full = self._parent.rings()
            self._rings = [full[i] for i in self._rows.tolist()]
        with self._lock:
            if self._rings is None:
                self._rings = C.boundaries(self.cells)
            return self._rings

    def ids(self) -> np.ndarray:
        """H3 hex strings of the cells (object array, built once)."""
        if self._ids is None:
            self._ids = np.array(C.to_str(self.cells), dtype=object)
        return self._ids

    def heads(self) -> list[bytes]:
        """Per cell, the serialised start of its GeoJSON Feature.

        Up to and including ``"properties":{"h3":"<id>"``; built once per study,
        so a response only writes the remaining properties (``geo.hotspots.encode``).
        """
        if self._parent is not None and self._heads is None:
            full = self._parent.heads()
            self._heads = [full[i] for i in self._rows.tolist()]
        if self._heads is None:
            import orjson

            heads = [b'{"type":"Feature","id":"%s","geometry":{"type":"Polygon","coordinates":'
                     b'[%s]},"properties":{"h3":"%s"' % (h.encode(), orjson.dumps(ring),
                                                          h.encode())
                     for h, ring in zip(self.ids().tolist(), self.rings(), strict=True)]
            with self._lock:
                self._heads = heads
        return self._heads

    def centres(self) -> np.ndarray:
        """(n, 2) lon, lat of the cell centres (built once)."""
        with self._lock:
            if self._centres is None:
                self._centres = C.centres(self.cells)
            return self._centres

    def subset(self, bbox: tuple[float, float, float, float]) -> Study:
        """The cells whose centre lies in ``bbox``; weights and outlines are sliced from here.

        Equal to building the study of the area clipped to the bbox: a cell's centre
        is in the clipped area exactly when it is in the area and in the bbox, and
        k-ring neighbours outside the bbox drop out either way.
        """
        xy = self.centres()
        x0, y0, x1, y1 = bbox
        rows = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) &
                              (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
        return Study(self.res, self.cells[rows], self.source, parent=self, rows=rows)

    def index_of(self, cells: np.ndarray) -> np.ndarray:
        """Rows of ``cells`` in the study (−1 when absent)."""
        if len(self.cells) == 0:
            return np.full(len(cells), -1)
        pos = np.searchsorted(self.cells, cells)
        pos[pos == len(self.cells)] = 0
        return np.where(self.cells[pos] == cells, pos, -1)


def extent_area(extent: tuple[float, float, float, float], buffer_m: float) -> BaseGeometry:
    """A lon/lat box around ``extent`` grown by ``buffer_m`` metres."""
    x0, y0, x1, y1 = extent
    dlat = buffer_m / M_PER_DEG
    dlon = buffer_m / (M_PER_DEG * np.cos(np.radians((y0 + y1) / 2)))
    return box(x0 - dlon, max(y0 - dlat, -90), x1 + dlon, min(y1 + dlat, 90))


def clip_to_bbox(area: BaseGeometry, bbox: tuple | None) -> BaseGeometry:
    """The area within the bbox (unchanged without one)."""
    return area if bbox is None else area.intersection(box(*bbox))


def check_size(area: BaseGeometry, res: int, max_cells: int) -> None:
    """Refuse areas that would hold more than ``max_cells`` cells at ``res``."""
    if area.is_empty:
        return
    lat = area.centroid.y
    area_m2 = area.area * M_PER_DEG**2 * np.cos(np.radians(lat))
    estimate = area_m2 / h3.average_hexagon_area(res, unit="m^2")
    if estimate > max_cells:
        raise InvalidInput(f"the study area holds about {estimate:,.0f} cells at res {res} "
                           f"(limit {max_cells:,}); use a coarser res or a bbox")


def study_cells(area: BaseGeometry, res: int, incident_cells: np.ndarray,
                bbox: tuple | None) -> np.ndarray:
    """Sorted union of the area's cells and the incidents' cells (in the bbox)."""
    return with_incident_cells(C.polyfill(area, res), incident_cells, bbox)


def with_incident_cells(filled: np.ndarray, incident_cells: np.ndarray,
                        bbox: tuple | None) -> np.ndarray:
    """Sorted union of filled cells and the incidents' cells (in the bbox).

    Values that are not H3 cells (incidents stored without one) are left out.
    """
    incident_cells = incident_cells[C.is_cell(incident_cells)]
    extra = np.setdiff1d(incident_cells, filled, assume_unique=True)
    if bbox is not None and len(extra):
        extra = extra[C.in_bbox(extra, bbox)]
    return np.union1d(filled, extra)
