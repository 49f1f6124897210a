"""Case flow (ARCHITECTURE.md §10): figures, warnings, repeats, 平安指数 and the periodic report."""
