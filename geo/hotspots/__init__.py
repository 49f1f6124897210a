"""Hotspots, emerging hotspots, heatmaps and backtests of incidents on H3 cells.

Incidents aggregated to H3 cells, Getis–Ord Gi* with BH-FDR bins,
emerging hot spots (Mann–Kendall on Gi* series), quartic-kernel heatmaps and
backtests (hit rate, PAI, RRI).

The statistics (``gistar``, ``fdr``, ``trend``, ``emerging``, ``heatmap``,
``backtest``) are pure numpy/scipy; ``aggregate`` and ``snapshot`` read the
database; ``freshness`` (which snapshot an answer reads), ``counting`` (memory or
SQL), ``studies`` (study areas) and ``runtime`` (``HotspotService``) keep what
outlives a request; ``warmup`` fills them at start; ``analyses`` runs the four
analyses on a ``HotspotService``.
"""
