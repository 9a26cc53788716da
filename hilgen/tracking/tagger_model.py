"""A trained tagger as an MLflow model, and loading one back by URI.

`log_tagger_model` logs an exported tagger directory (`hilgen.inference.export`) as the active
run's `mlflow.pyfunc` model at artifact path `model`, with a signature (a list of texts in, a
list of entity records out) and an input example; the UI lists it under the run's "Logged
models", and `mlflow models serve` answers `POST /invocations` with `{"inputs": [...]}`.
`load_tagger` opens `runs:/<run_id>/model`, `models:/<name>/<version>` or a local directory and
returns the `DocumentTagger` that every way of tagging uses.

The model needs hilgen installed where it is loaded (serve it with `--env-manager local`);
its pip requirements pin the libraries hilgen was trained with.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from hilgen.errors import UserError
from hilgen.inference.export import CARD_FILE, ModelFormatError, export_ensemble, read_card
from hilgen.inference.tagger import DocumentTagger, checked_precision
from hilgen.models.combine import CombinationRule

log = logging.getLogger(__name__)

MODEL_ARTIFACT_PATH = "model"
INPUT_EXAMPLE = ["Famotidine-associated delirium: a series of six cases."]
# Where hilgen's runs are (conf/tracking/mlflow.yaml) when MLFLOW_TRACKING_URI is unset.
DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
REQUIREMENTS = (
    "mlflow",
    "torch",
    "transformers",
    "lightning",
    "faiss-cpu",
    "scikit-learn",
    "seqeval",
    "tqdm",
)


class ModelLoadError(UserError, ValueError):
    """A model URI that names no loadable hilgen model; the message says what to do."""


# A record's values are of several types (ints, strings, a list of entities): MLflow reads the
# `Any` in `predict`'s type hints as "not validated" and says so, when the class is defined.
warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType.*")


class TaggerModel(mlflow.pyfunc.PythonModel):
    """The pyfunc face of a `DocumentTagger`: texts in, one entity record per text out."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.tagger = DocumentTagger.load(context.artifacts["tagger"])

    def __getstate__(self) -> dict[str, Any]:
        # MLflow loads the model to run the input example before it pickles this object: the
        # weights are in the artifacts, never in python_model.pkl
        return {}

    def predict(
        self, model_input: list[str], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return self.tagger.tag(model_input)


def pip_requirements() -> list[str]:
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pinned


def directory_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def log_tagger_model(directory: Path, registered_name: str | None = None) -> dict[str, float]:
    """Log the exported tagger in `directory` as the active run's model (and register it
    under `registered_name`); return its size and the seconds logging took, as metrics."""
    card = read_card(directory)
    started = time.perf_counter()
    mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT_PATH,
        python_model=TaggerModel(),
        artifacts={"tagger": str(directory)},
        input_example=INPUT_EXAMPLE,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_name,
        metadata={"hilgen_kind": card.kind, "labels": card.labels, "dataset": card.dataset},
    )
    return {
        "model/size_mb": directory_size(directory) / 1e6,
        "model/log_seconds": time.perf_counter() - started,
    }


def _load_error(model_uri: str, error: Exception) -> ModelLoadError:
    text = str(error)
    if model_uri.startswith("runs:/"):
        run_id = model_uri.removeprefix("runs:/").split("/", 1)[0]
        if "not found" in text.lower() and run_id in text:
            return ModelLoadError(
                f"{model_uri}: no run {run_id!r} in the tracking store "
                f"{mlflow.get_tracking_uri()}; copy the run id from the MLflow UI (or set "
                "MLFLOW_TRACKING_URI / tracking.tracking_uri to the store it was logged in)"
            )
        return ModelLoadError(
            f"{model_uri}: run {run_id!r} has no logged model; it was trained before models "
            "were logged or with tracking.log_model=false: train it again to get one"
        )
    if model_uri.startswith("models:/"):
        return ModelLoadError(
            f"{model_uri}: no such registered model version in {mlflow.get_tracking_uri()}; "
            "register one with train.py tracking.register_model=<name>"
        )
    return ModelLoadError(
        f"{model_uri}: not an MLflow model ({text.splitlines()[0] if text else error!r}); give "
        "runs:/<run_id>/model, models:/<name>/<version> or a model directory"
    )


def load_tagger(
    model_uri: str | Path, tracking_uri: str | None = None, precision: str = "fp32"
) -> DocumentTagger:
    """The tagger behind `model_uri`: `runs:/<run_id>/model`, `models:/<name>/<version>`, a
    downloaded MLflow model directory, or a directory `hilgen.inference.export` wrote. Run and
    registry URIs are looked up in `tracking_uri` (default: MLFLOW_TRACKING_URI, else the
    project's `sqlite:///mlruns/mlflow.db`). `precision`: "fp32" (the run's own predictions)
    or "bf16" (faster; see `hilgen.inference.tagger`)."""
    checked_precision(precision)  # before the seconds loading takes
    uri = str(model_uri)
    local = Path(uri)
    if local.is_dir() and (local / CARD_FILE).is_file():
        return DocumentTagger.load(local, precision)
    is_uri = uri.startswith(("runs:/", "models:/")) or "://" in uri
    if not is_uri and not local.exists():
        raise ModelLoadError(
            f"{uri}: no such model directory; give runs:/<run_id>/model, "
            "models:/<name>/<version> or a model directory"
        )
    mlflow.set_tracking_uri(
        tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    )
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as error:
        raise _load_error(uri, error) from None
    except ModelFormatError as error:
        raise ModelLoadError(str(error)) from None
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, TaggerModel):
        raise ModelLoadError(f"{uri}: an MLflow model, but not a hilgen tagger")
    python_model.tagger.precision = precision
    return python_model.tagger


def download_tagger(run_id: str, destination: Path) -> Path:
    """The exported tagger directory of a run's logged model, downloaded under
    `destination`; a `ModelLoadError` for a run without one."""
    uri = f"runs:/{run_id}/{MODEL_ARTIFACT_PATH}"
    try:
        local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(destination)))
    except (MlflowException, OSError) as error:
        raise _load_error(uri, error) from None
    tagger = local / "artifacts" / "tagger"
    if not (tagger / CARD_FILE).is_file():
        raise ModelLoadError(f"{uri}: an MLflow model, but not a hilgen tagger")
    return tagger


def log_ensemble_model(
    member_run_ids: Sequence[str],
    member_names: Sequence[str],
    rule: CombinationRule,
    weights: Sequence[float],
    registered_name: str | None = None,
) -> dict[str, float]:
    """Log, in the active run, the ensemble of the members' logged models that `rule`
    combines with `weights` (chosen on dev) as its model; return its size and logging time.
    A `ModelLoadError` when a member has no logged model."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hilgen-ensemble-") as temp:
        members = [
            download_tagger(run_id, Path(temp) / f"download_{i}")
            for i, run_id in enumerate(member_run_ids)
        ]
        directory = Path(temp) / "ensemble"
        export_ensemble(
            directory,
            members,
            rule,
            list(weights),
            member_sources=[
                {"run_id": run_id, "name": name}
                for run_id, name in zip(member_run_ids, member_names, strict=True)
            ],
        )
        metrics = {"model/export_seconds": time.perf_counter() - started}
        metrics |= log_tagger_model(directory, registered_name)
    return metrics
