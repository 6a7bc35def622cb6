"""What a run records: metrics, checkpoints, exports, plots, the summary, loggers, provenance
and the results class."""
