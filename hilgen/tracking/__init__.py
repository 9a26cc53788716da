"""The one place that talks to MLflow: runs, parameters, metrics, artifacts, secret redaction,
and the queries that select finished runs."""
