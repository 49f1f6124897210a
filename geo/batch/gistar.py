"""Gi* z-scores for one block of study cells, from the counts of its k-ring halo.

The study's cells and counts are shared with every worker once (16 bytes a
cell); a block task looks up the ``grid_disk(c, k)`` neighbours of its own
cells in them — its halo, which reaches into the neighbouring blocks — and
computes, per cell, the binary lag ``sum_j w_ij x_j`` and ``W_i`` exactly as
the service's sparse matrix does. With the global mean and (population)
deviation it then applies the service's formula (``geo.hotspots.gistar``):

    z_i = (lag_i − x̄ W_i) / (S sqrt((n W_i − W_i²) / (n − 1)))

For a space-time cube (``time_window`` τ ≥ 1) a bin's neighbours are its k-ring
cells in the same and the τ previous steps, with the cube's mean and deviation
(``geo.hotspots.emerging.space_time_weights``).
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.basic_int as h3i
import numpy as np


@dataclass
class Study:
    """Sorted study cells and their counts ((n,) or (n, steps)), shared by the blocks."""

    cells: np.ndarray
    x: np.ndarray


@dataclass
class Stats:
    """What every block needs from the whole study: n, mean and deviation."""

    n: int
    mean: np.ndarray | float
    std: np.ndarray | float
    time_window: int = 0

    @classmethod
    def of(cls, x: np.ndarray, time_window: int = 0) -> Stats:
        """Statistics as ``gi_star_z`` computes them (per column, or over the cube)."""
        x = np.asarray(x, dtype=float)
        if time_window > 0:
            flat = x.T.ravel()
            mean = flat.mean()
            std = np.sqrt(max((flat * flat).mean() - mean * mean, 0.0))
            return cls(flat.shape[0], mean, std, time_window)
        mean = x.mean(axis=0)
        std = np.sqrt(np.maximum((x * x).mean(axis=0) - mean * mean, 0.0))
        return cls(x.shape[0], mean, std, 0)


def halo_lag(study: Study, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary k-ring lag and neighbour count of the cells at ``rows`` (halo included)."""
    cells = study.cells
    disks = [h3i.grid_disk(c, k) for c in cells[rows].tolist()]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=len(disks))
    flat = np.fromiter((c for d in disks for c in d), dtype=np.int64, count=int(sizes.sum()))
    owner = np.repeat(np.arange(len(rows)), sizes)
    pos = np.searchsorted(cells, flat)
    pos[pos == len(cells)] = 0
    hit = cells[pos] == flat
    w = np.bincount(owner[hit], minlength=len(rows)).astype(float)
    x = np.asarray(study.x, dtype=float)
    if x.ndim == 1:
        lag = np.bincount(owner[hit], weights=x[pos[hit]], minlength=len(rows))
    else:
        lag = np.zeros((len(rows), x.shape[1]))
        np.add.at(lag, owner[hit], x[pos[hit]])
    return lag, w


def block_z(study: Study, rows: np.ndarray, k: int, stats: Stats) -> np.ndarray:
    """Gi* z of the cells at ``rows`` ((b,) or (b, steps)) — one block task."""
    lag, w = halo_lag(study, rows, k)
    n = stats.n
    if lag.ndim == 2 and stats.time_window > 0:
        steps, tau = lag.shape[1], stats.time_window
        back = np.zeros_like(lag)
        for d in range(tau + 1):
            back[:, d:] += lag[:, :steps - d]
        lag = back
        w = w[:, None] * (np.minimum(np.arange(steps), tau) + 1)[None, :]
    elif lag.ndim == 2:
        w = w[:, None]
    spread = np.sqrt(np.maximum(n * w - w * w, 0.0) / (n - 1))
    denom = stats.std * spread
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (lag - stats.mean * w) / denom
    return np.where(denom > 0, z, 0.0)


def blocks(cells: np.ndarray, partition_res: int, most: int, least: int = 1
           ) -> list[np.ndarray]:
    """Rows of the study grouped by coarse parent cell into about equal blocks.

    Neighbouring parents (in cell order) are joined until a block holds about
    ``n / least`` cells (and at most ``most``), so there are at least ``least``
    blocks when the study is large enough; a parent larger than ``most`` is split.
    """
    res = h3i.get_resolution(int(cells[0])) if len(cells) else partition_res
    top = min(partition_res, res)
    owner = np.fromiter((h3i.cell_to_parent(c, top) for c in cells.tolist()), dtype=np.int64,
                        count=len(cells))
    order = np.argsort(owner, kind="stable")
    _, starts = np.unique(owner[order], return_index=True)
    size = max(1, min(most, int(np.ceil(len(cells) / max(least, 1)))))
    out, current = [], []
    for rows in np.split(order, starts[1:]):
        for piece in np.array_split(rows, max(1, int(np.ceil(len(rows) / most)))):
            current.append(piece)
            if sum(len(p) for p in current) >= size:
                out.append(np.concatenate(current))
                current = []
    if current:
        out.append(np.concatenate(current))
    return [np.sort(r) for r in out if len(r)]
