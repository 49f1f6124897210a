"""OGC API Features Part 1 (Core) over the mapped tables: collections, queries, documents."""
