"""Grid planning (网格化管理).

Versioned grid plans, evaluation, balanced contiguous redistricting, edits,
diffs and departmental overlays (多网合一).

Pure algorithms (``tessellation``, ``partition``, ``polygons``, ``codes``,
``evaluate``, ``merge``) work on numpy/shapely arrays in a metric CRS; the
database side (``plans``, ``store``, ``redistrict``, ``edits``, ``diff``) reads
and writes the ``grid_plans`` / ``grids`` / ``grid_members`` tables.
"""
