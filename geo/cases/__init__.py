"""Case flow (DESIGN §10): figures, warnings, repeats, 平安指数 and the periodic report."""
