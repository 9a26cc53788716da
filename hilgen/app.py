"""What every entry point (`train.py`, `generate.py`, `ensemble.py`) shares around `hydra.main`.

- A user error (`hilgen.errors.UserError`, a config value, a missing file) is one line on
  stderr and exit status 1; a bug keeps its traceback. `--verbose` or `HYDRA_FULL_ERROR=1`
  shows every traceback.
- Typed top-level settings (`hilgen.settings`) are checked before any work starts.
- A sweep runs every job even when some fail, then lists the failed ones and exits 1.
- SIGTERM stops a run or a whole sweep like Ctrl-C does (exit status 143).
- Third-party tips and deprecation warnings are silenced.

This module imports only Hydra and OmegaConf, so `--help` and config errors answer at once;
the entry points import the pipeline inside their task function for the same reason.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException, InstantiationException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hilgen.errors import UserError
from hilgen.io import BROKEN_PIPE_EXIT, silence_broken_stdout
from hilgen.settings import check_settings

log = logging.getLogger(__name__)

#: Where a sweep's failed jobs are listed (one line each), in the sweep folder.
FAILED_JOBS_FILE = "failed_jobs.txt"
#: Exit status of a process stopped by SIGTERM (128 + 15), as a shell reports it.
SIGTERM_EXIT = 128 + signal.SIGTERM

# Resolvers used by conf/hydra/default.yaml. `hilgen.pid` is cached, so a sweep's jobs (even in
# other processes, which get the launching process's resolver cache) see the launcher's pid.
if not OmegaConf.has_resolver("hilgen.pid"):
    OmegaConf.register_new_resolver("hilgen.pid", os.getpid, use_cache=True)


class JobFailed(Exception):
    """A job's error, already logged; raised so that Hydra marks the job failed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so every `finally` and context runs."""


_terminated = False


def _raise_terminated(signum: int, frame: object) -> None:
    global _terminated
    _terminated = True
    raise Terminated(f"stopped by signal {signum}")


def user_error_message(error: BaseException) -> str | None:
    """The one-line message for an error the user fixes, or None for a bug."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        cause = error.__cause__
        if isinstance(cause, UserError | ValueError | TypeError | OSError):
            return str(cause)
        return None
    if isinstance(error, OmegaConfBaseException):
        lines = str(error).splitlines()
        key = next((line.split(":", 1)[1].strip() for line in lines if "full_key:" in line), "")
        return f"config: {lines[0]}" + (f" (key {key})" if key and key not in lines[0] else "")
    if isinstance(error, CompactHydraException):
        return str(error)
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return str(error)
    return None


def quiet_third_party() -> None:
    """Silence tips and deprecation warnings that say nothing about this run."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    tips = _DropMessages("💡 Tip")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(tips)
    # Lightning prints through its own handler on `lightning`; imported after Hydra set up
    # logging, its records would reach Hydra's handlers too and show twice.
    logging.getLogger("lightning").propagate = False
    # One INFO line per HTTP request (hundreds for an LLM augmenter): the client counts them.
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _DropMessages(logging.Filter):
    """Drops records whose message starts with `prefix` (a filter on a logger survives the
    `dictConfig` calls of Hydra and MLflow, where a level would be reset)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


class SweepFailures(Callback):
    """Lists failed sweep jobs in `<sweep dir>/failed_jobs.txt` (from whichever process ran
    them), so the launching process can name them all at the end."""

    sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepFailures.sweep_dir = Path(str(config.hydra.sweep.dir))
        # a sweep rerun into the same folder lists its own failures, not the last sweep's
        (SweepFailures.sweep_dir / FAILED_JOBS_FILE).unlink(missing_ok=True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.FAILED or config.hydra.mode != RunMode.MULTIRUN:
            return
        error = job_return._return_value
        reason = " ".join(str(error).split()) or type(error).__name__
        overrides = " ".join(job_return.overrides or [])
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with (sweep_dir / FAILED_JOBS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(f"#{config.hydra.job.num} {overrides}: {reason}\n")


def failed_jobs_summary(sweep_dir: Path | None) -> str | None:
    """'N sweep jobs failed:' and one line per job, or None when none failed."""
    path = sweep_dir / FAILED_JOBS_FILE if sweep_dir else None
    if path is None or not path.is_file():
        return None
    lines = sorted(path.read_text(encoding="utf-8").splitlines())
    return f"{len(lines)} sweep job(s) failed (listed in {path}):\n" + "\n".join(
        f"  {line}" for line in lines
    )


def _run_job(task: Callable[[DictConfig], Any], verbose: bool, cfg: DictConfig) -> Any:
    """The task with its settings checked first and its failure logged once."""
    try:
        check_settings(cfg)
        return task(cfg)
    except Exception as error:
        if verbose:
            raise
        message = user_error_message(error)
        if message is None:
            log.exception("job failed with an unexpected error (a bug; please report it)")
            message = f"{type(error).__name__}: {error}"
        else:
            _report_error(message)
        if HydraConfig.get().mode == RunMode.RUN:
            raise SystemExit(1) from None  # one message, no "Error executing job" line
        raise JobFailed(message) from error


def _report_error(message: str) -> None:
    """`error: message` on stderr, and the message in the job's log file."""
    print(f"error: {message}", file=sys.stderr)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def hilgen_main(
    config_path: str, config_name: str
) -> Callable[[Callable[[DictConfig], Any]], Callable[[], None]]:
    """`hydra.main` for a task function, with the behaviour this module's docstring lists.

    `config_path` is relative to the file of the decorated function, as in `hydra.main`.
    """

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], None]:
        config_dir = Path(inspect.getfile(task)).resolve().parent / config_path

        @functools.wraps(task)
        def main() -> None:
            verbose = "--verbose" in sys.argv or os.environ.get("HYDRA_FULL_ERROR") == "1"
            sys.argv = [arg for arg in sys.argv if arg != "--verbose"]
            # Hydra re-raises everything then, so the errors are reported here, once.
            os.environ["HYDRA_FULL_ERROR"] = "1"
            quiet_third_party()
            signal.signal(signal.SIGTERM, _raise_terminated)
            job = functools.update_wrapper(functools.partial(_run_job, task, verbose), task)
            hydra_main = hydra.main(
                version_base="1.3", config_path=str(config_dir), config_name=config_name
            )(job)
            try:
                hydra_main()
            except BrokenPipeError:  # `train.py --help | head` stopped reading
                silence_broken_stdout()
                sys.exit(BROKEN_PIPE_EXIT)
            except (KeyboardInterrupt, SystemExit) as stop:
                # Lightning turns an interrupt during training into SystemExit(1).
                if isinstance(stop, SystemExit) and not _terminated:
                    raise
                _report_failed_jobs()
                print(f"\nstopped ({'SIGTERM' if _terminated else 'Ctrl-C'})", file=sys.stderr)
                # Every `finally` has run (runs ended, LLM clients and servers closed); only
                # threads still waiting for an LLM answer are left, and a normal exit would
                # wait for them (up to the request timeout).
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(SIGTERM_EXIT if _terminated else 130)
            except JobFailed:
                if not _report_failed_jobs():
                    raise
                sys.exit(1)
            except Exception as error:
                message = user_error_message(error)
                if verbose or message is None:
                    raise
                print(f"error: {message}", file=sys.stderr)
                sys.exit(1)
            if _report_failed_jobs():
                sys.exit(1)

        return main

    return decorate


def _report_failed_jobs() -> bool:
    summary = failed_jobs_summary(SweepFailures.sweep_dir)
    if summary:
        print(f"\n{summary}", file=sys.stderr)
    return summary is not None
