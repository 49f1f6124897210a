"""The four analyses on top of ``HotspotService`` (``geo.hotspots.runtime``).

Each validates its query,
counts, runs the estimator and returns a result that echoes its parameters.
Results are cached by query and data versions. With ``fresh`` the answer reads
the incidents as they are now; otherwise it may read a snapshot up to
``ONEMAP_HOTSPOT_MAX_STALE_S`` old (its ``data_version`` says which).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.errors import NotEnoughData, TooLarge
from geo.hotspots.backtest import Backtest
from geo.hotspots.counting import Counter, in_box
from geo.hotspots.emerging import EmergingHotspots
from geo.hotspots.fdr import confidence_label, fdr_levels
from geo.hotspots.freshness import DataState
from geo.hotspots.gistar import GiStar, gi_star_z
from geo.hotspots.heatmap import QuarticKDE
from geo.hotspots.params import (
    BacktestQuery,
    EmergingQuery,
    Filters,
    HeatmapQuery,
    HotspotQuery,
    emerging_query,
    hotspot_query,
)
from geo.hotspots.results import BacktestResult, EmergingResult, HeatmapResult, HotspotResult
from geo.hotspots.runtime import HotspotService
from geo.hotspots.steps import default_end, step_edges

HEAT_SOURCE_RES = 11  # heatmap input: incidents per cell at this resolution


def _base(q, study, st: DataState) -> dict:
    return {"res": q.res, "k": q.k, "bbox": list(q.bbox) if q.bbox else None,
            "cells": len(study), "study_area": study.source,
            "weights": f"binary, grid_disk(k={q.k}), cell included (Gi*)",
            "data_version": st.incidents}


def hotspots(svc: HotspotService, q: HotspotQuery, fresh: bool = False) -> HotspotResult:
    """Gi* with BH-FDR bins on every study cell."""
    st = svc.state(fresh)
    return svc.results.get(("gi", q, st), lambda: _hotspots(svc, q, st))


def _hotspots(svc: HotspotService, q: HotspotQuery, st: DataState) -> HotspotResult:
    study = svc.study(q.res, q.bbox, st)
    counts = svc.counter(st).counts(study, q.filters)
    svc.require(int(counts.sum()))
    gi = GiStar(alpha=q.alpha).fit(counts, study.weights(q.k))
    levels = dict(zip(("3", "2", "1"), fdr_levels(q.alpha), strict=True))
    params = {**_base(q, study, st), **q.filters.echo(), "alpha": q.alpha,
              "fdr": "Benjamini-Hochberg over all cells",
              "bin_levels": {b: {"fdr": lv, "confidence": confidence_label(lv)}
                             for b, lv in levels.items()},
              "p_value": "two-sided, normal", "incidents": int(counts.sum())}
    return HotspotResult(study, counts, gi.z_, gi.p_, gi.bins_, gi.classes_, params)


def emerging(svc: HotspotService, q: EmergingQuery, fresh: bool = False) -> EmergingResult:
    """Emerging hot spot categories over weekly or monthly steps."""
    st = svc.state(fresh)
    return svc.results.get(("emerging", q, st), lambda: _emerging(svc, q, st))


def _emerging(svc: HotspotService, q: EmergingQuery, st: DataState) -> EmergingResult:
    tz = svc.settings.timezone
    f = q.filters
    counter = svc.counter(st)
    end = f.t1
    if end is None:
        last = counter.time_range(Filters(f.t0, None, f.categories, f.sources))[1]
        svc.require(0 if last is None else svc.settings.min_incidents)
        end = default_end(last, tz)
    edges = step_edges(f.t0, end, q.step, tz)
    window = Filters(edges[0], edges[-1], f.categories, f.sources)
    study = svc.study(q.res, q.bbox, st)
    check_emerging_size(len(study), len(edges) - 1, q, svc.settings)
    cube = counter.cube(study, window, edges)
    svc.require(int(cube.sum()))
    ehs = EmergingHotspots(q.time_window, q.alpha, q.trend_alpha).fit(cube, study.weights(q.k))
    params = {**_base(q, study, st), **window.echo(), "step": q.step, "steps": len(edges) - 1,
              "time_window": q.time_window, "alpha": q.alpha, "trend_alpha": q.trend_alpha,
              "fdr": "Benjamini-Hochberg over all cell-steps",
              "trend": "Mann-Kendall on each cell's Gi* z series",
              "timezone": tz, "incidents": int(cube.sum())}
    return EmergingResult(study, cube.sum(axis=1), ehs.category_, ehs.trend_z_, ehs.trend_p_,
                          ehs.hot_.sum(axis=1), ehs.cold_.sum(axis=1), ehs.z_[:, -1], params)


def check_emerging_size(cells: int, steps: int, q: EmergingQuery, s) -> None:
    """Refuse, before counting, a cube or space-time weights over the limits."""
    bins = cells * steps
    ring = 3 * q.k * (q.k + 1) + 1
    work = bins * ring * (q.time_window + 1)
    advice = "use a coarser res, a bbox, step=month or a shorter window"
    if bins > s.emerging_max_bins:
        raise TooLarge(f"{cells:,} cells × {steps:,} {q.step}s = {bins:,} bins "
                       f"(limit {s.emerging_max_bins:,}); {advice}")
    if work > s.emerging_max_work:
        raise TooLarge(f"{bins:,} bins × {ring} neighbours × {q.time_window + 1} steps = "
                       f"{work:,} weights (limit {s.emerging_max_work:,}); {advice}, "
                       "or a smaller k or time_window")


def backtest(svc: HotspotService, q: BacktestQuery, fresh: bool = False) -> BacktestResult:
    """Hit rate, PAI and RRI of training-window hotspots on the test window."""
    st = svc.state(fresh)
    return svc.results.get(("backtest", q, st), lambda: _backtest(svc, q, st))


def _backtest(svc: HotspotService, q: BacktestQuery, st: DataState) -> BacktestResult:
    study = svc.study(q.res, q.bbox, st)
    counter = svc.counter(st)
    train = counter.counts(study, q.train)
    test = counter.counts(study, q.test)
    svc.require(int(train.sum()), "the training window")
    svc.require(int(test.sum()), "the test window")
    W = study.weights(q.k)
    bt = Backtest(q.top, q.method).fit(study.cells, train, test, W)
    scores = {"hit_rate": bt.hit_rate_, "pai": bt.pai_, "rri": bt.rri_,
              "area_share": bt.area_share_, "hotspot_cells": len(bt.hotspots_),
              "train_incidents": bt.train_total_, "test_incidents": bt.test_total_,
              "train_in_hotspots": bt.train_hot_, "test_in_hotspots": bt.test_hot_}
    params = {**_base(q, study, st), "top": q.top, "method": q.method,
              "train": q.train.echo(), "test": q.test.echo()}
    return BacktestResult(study, bt.hotspots_, train, test, gi_star_z(train, W), scores, params)


def heatmap(svc: HotspotService, q: HeatmapQuery, fresh: bool = False) -> HeatmapResult:
    """Quartic kernel density on H3 cell centres."""
    st = svc.state(fresh)
    return svc.results.get(("heat", q, st), lambda: _heatmap(svc, q, st))


def _heatmap(svc: HotspotService, q: HeatmapQuery, st: DataState) -> HeatmapResult:
    counter = svc.counter(st)
    cells, n = _fine_counts(counter, q, HEAT_SOURCE_RES)
    total = int(np.sum(n))
    if total == 0:
        raise NotEnoughData("no incidents match this window and filter")
    kde = QuarticKDE(q.bandwidth_m, q.res, svc.area_settings.metric_epsg,
                     svc.settings.heatmap_max_cells, svc.settings.heatmap_max_pairs).fit(
        cells, n, counts_at=lambda r: _fine_counts(counter, q, r))
    params = {**q.filters.echo(), "bbox": list(q.bbox) if q.bbox else None,
              "bandwidth_m": round(kde.bandwidth_m_, 3),
              "bandwidth_rule": "given" if q.bandwidth_m else
              "0.9*min(SD, sqrt(1/ln2)*Dm)*n^-0.2 clamped to [100, 1000] m",
              "kernel": "quartic", "res": kde.res_, "metric_epsg": kde.epsg_,
              "incidents": total, "points": len(kde.cells_)}
    return HeatmapResult(kde.cells_, kde.lonlat_, kde.density_, params)


def _fine_counts(counter: Counter, q: HeatmapQuery, res: int):
    """Incidents per cell at ``res`` in the query's bbox (heatmap input)."""
    cells, n = counter.cell_counts(q.filters, res)
    return in_box(cells, n, q.bbox)


def hotspot_cells(svc: HotspotService, params: HotspotQuery | None = None, fresh: bool = True,
                  **query) -> pd.DataFrame:
    """Gi* per cell as a DataFrame (h3 str, count, gi_z, p_value, bin, class); cached.

    ``params`` is a ``HotspotQuery``; or give raw values as keywords
    (``res``, ``k``, ``alpha``, ``from_``, ``to``, ``category``, ``source``, ``bbox``).
    ``fresh`` (default): read the incidents as they are now; False accepts a snapshot
    up to ``ONEMAP_HOTSPOT_MAX_STALE_S`` old, as the HTTP API does.
    """
    q = params or hotspot_query(svc.settings, **query)
    return hotspots(svc, q, fresh).frame()


def emerging_cells(svc: HotspotService, params: EmergingQuery | None = None,
                   **query) -> pd.DataFrame:
    """Emerging categories per cell as a DataFrame (h3 str, category, trend_z, trend_p, …)."""
    q = params or emerging_query(svc.settings, **query)
    return emerging(svc, q).frame()
