"""onemap domain: models, database access, import/export, analyses. No HTTP here."""
