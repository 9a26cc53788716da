"""Tools over finished runs: paper-style report tables and charts, label and teacher diagnoses."""
