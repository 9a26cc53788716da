"""Stage 6: seqeval metrics, prediction files and plain tables, the library that the stages
and the tools share."""
