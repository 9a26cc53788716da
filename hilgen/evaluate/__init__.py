"""Stage 6: seqeval metrics, prediction files, and paper-style tables and plots."""
