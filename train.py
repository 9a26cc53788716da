"""Train and evaluate a few-shot NER model: `python train.py` or `python train.py -m seed=1,2,3`."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from omegaconf import DictConfig  # noqa: E402

from hilgen.app import hilgen_main  # noqa: E402


@hilgen_main(config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    # Imported here, not above: torch and friends take seconds that --help and a config
    # error should not wait for.
    from hilgen.pipeline import train

    return train(cfg)["test_f1"]


if __name__ == "__main__":
    main()
