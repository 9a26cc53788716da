"""Generate synthetic training data: `python generate.py augmenter=umls_siblings seed=3`."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from hilgen.pipeline import generate  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    generate(cfg)


if __name__ == "__main__":
    main()
