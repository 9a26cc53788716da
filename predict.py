"""Tag text with a trained model: `python predict.py model_uri=runs:/<run_id>/model
input=<file or directory> output=<file>` (see docs/predict.md)."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from omegaconf import DictConfig  # noqa: E402

from hilgen.app import hilgen_main  # noqa: E402


@hilgen_main(config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    # Imported here, not above: torch and friends take seconds that --help and a config
    # error should not wait for.
    from hilgen.prediction import predict

    predict(cfg)


if __name__ == "__main__":
    main()
