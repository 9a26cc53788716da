"""Combine finished runs' saved predictions: `python ensemble.py select.dataset=ncbi_disease
ensemble=best` (one ensemble per seed, chosen on dev, reported on test)."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
# One progress bar over the runs instead of one per downloaded file.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from omegaconf import DictConfig  # noqa: E402

from hilgen.app import hilgen_main  # noqa: E402


@hilgen_main(config_path="conf", config_name="ensemble")
def main(cfg: DictConfig) -> float:
    # Imported here: MLflow and torch take seconds that --help and a config error should not
    # wait for.
    from hilgen.ensemble.runner import run_ensembles

    return run_ensembles(cfg)["test_f1_mean"]


if __name__ == "__main__":
    main()
