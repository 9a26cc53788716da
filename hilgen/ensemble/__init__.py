"""Per-seed ensembles of finished runs: combination rules and the runner."""
