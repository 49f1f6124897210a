"""Vector tiles: per-layer MVT SQL, zoom rules, clustering, cache, ETags."""
