"""Train and evaluate a few-shot NER model: `python train.py` or `python train.py -m seed=1,2,3`."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from hilgen.pipeline import train  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return train(cfg)["test_f1"]


if __name__ == "__main__":
    main()
