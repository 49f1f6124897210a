"""Import and export: files and HTTP bodies → validated frames → PostGIS, and back.

``read`` turns any supported file into a GeoDataFrame, ``validate`` checks and
canonicalises it (shared with the HTTP ingest), ``load`` writes it in one
transaction, ``export`` writes a layer back out, ``membership`` keeps grid
memberships and incident grids current after a load.
"""
