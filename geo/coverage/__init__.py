"""Camera coverage (雪亮工程).

What each camera really sees, how much of the city is seen, where the gaps
are, and where new cameras help most.

Modules, from geometry up:

* :mod:`~geo.coverage.optics`, :mod:`~geo.coverage.sectors`,
  :mod:`~geo.coverage.shadows`, :mod:`~geo.coverage.viewshed` — the view model
  (pure geometry in a metric CRS);
* :mod:`~geo.coverage.views` (+ :mod:`~geo.coverage.store`) — views stored in
  ``camera_views``, full and incremental refresh; :mod:`~geo.coverage.hooks`
  for loaders;
* :mod:`~geo.coverage.basis`, :mod:`~geo.coverage.tiling`,
  :mod:`~geo.coverage.units`, :mod:`~geo.coverage.figures`,
  :mod:`~geo.coverage.summary` — coverage figures per level and class;
* :mod:`~geo.coverage.gaps`, :mod:`~geo.coverage.gapstore` — ranked gaps in
  ``coverage_gaps``;
* :mod:`~geo.coverage.candidates`, :mod:`~geo.coverage.siting`,
  :mod:`~geo.coverage.placement` — siting new cameras;
* :mod:`~geo.coverage.camera_edits` — camera CRUD with in-transaction view refresh.
"""
