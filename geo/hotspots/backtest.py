"""Backtest: how well hotspots of a training window predict a test window.

Hotspots are the top ``top`` share of study-area cells ranked by training
Gi* z-score (``method="gi"``, ties broken by training count) or by training
count (``method="count"``); ``ceil(top · n)`` cells are taken.

* hit rate ``= t_hot / t_all`` — share of test incidents inside the hotspots;
* PAI (predictive accuracy index) ``= hit rate / (a_hot / a_all)`` with areas
  from ``h3.cell_area`` (m²);
* RRI (recapture rate index) ``= (t_hot / r_hot) / (t_all / r_all)`` where
  ``r`` counts training incidents (undefined, None, when ``r_hot = 0``).
"""

from __future__ import annotations

import math

import h3.api.basic_int as h3i
import numpy as np
from scipy import sparse

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots.gistar import gi_star_z

METHODS = ("gi", "count")


class Backtest:
    """Score training-window hotspots on a test window.

    Parameters
    ----------
    top : float
        Share of the study area's cells taken as hotspots (0 < top ≤ 0.5).
    method : {"gi", "count"}
        How cells are ranked on the training window.

    Attributes
    ----------
    hotspots_ : ndarray of int
        Row indices of the hotspot cells, best first.
    hit_rate_, pai_, rri_ : float
    area_share_ : float
    train_total_, test_total_, train_hot_, test_hot_ : int
    """

    def __init__(self, top: float = 0.05, method: str = "gi"):
        self.top = top
        self.method = method

    def fit(self, cells: np.ndarray, train: np.ndarray, test: np.ndarray,
            W: sparse.csr_matrix) -> Backtest:
        """Rank cells on ``train`` counts, score them on ``test`` counts."""
        if not 0 < self.top <= 0.5:
            raise InvalidInput(f"top must be a share of the area in (0, 0.5], got {self.top}")
        if self.method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        train = np.asarray(train, dtype=float)
        test = np.asarray(test, dtype=float)
        if train.sum() <= 0:
            raise NotEnoughData("no incidents in the training window")
        if test.sum() <= 0:
            raise NotEnoughData("no incidents in the test window")
        score = gi_star_z(train, W) if self.method == "gi" else train
        order = np.lexsort((-train, -score))
        take = order[: max(1, math.ceil(self.top * len(cells)))]
        area = np.array([h3i.cell_area(int(c), unit="m^2") for c in cells])
        self.hotspots_ = take
        self.train_total_, self.test_total_ = int(train.sum()), int(test.sum())
        self.train_hot_, self.test_hot_ = int(train[take].sum()), int(test[take].sum())
        self.area_share_ = float(area[take].sum() / area.sum())
        self.hit_rate_ = self.test_hot_ / self.test_total_
        self.pai_ = self.hit_rate_ / self.area_share_
        self.rri_ = (None if self.train_hot_ == 0 else
                     (self.test_hot_ / self.train_hot_) / (self.test_total_ / self.train_total_))
        return self
