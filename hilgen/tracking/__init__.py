"""The one place that talks to MLflow: runs, parameters, metrics, artifacts, secret redaction."""
