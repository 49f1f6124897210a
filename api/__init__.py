"""onemap HTTP API, map page and the ``onemap`` command line."""
