"""Generate synthetic training data: `python generate.py augmenter=umls_siblings seed=3`."""

import os
from pathlib import Path

os.environ.setdefault("HILGEN_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from omegaconf import DictConfig  # noqa: E402

from hilgen.app import hilgen_main  # noqa: E402


@hilgen_main(config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    # Imported here: torch and friends take seconds that --help and a config error should not
    # wait for.
    from hilgen.pipeline import generate

    generate(cfg)


if __name__ == "__main__":
    main()
