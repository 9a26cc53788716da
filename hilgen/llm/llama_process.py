"""The child process that hosts llama.cpp's OpenAI-compatible server for `LocalLlamaServer`.

Run as ``python -P llama_process.py --model FILE.gguf`` (-P keeps this folder off sys.path,
where it would shadow stdlib modules). It binds 127.0.0.1 on a port the OS picks, prints one
line ``<READY_PREFIX><address>`` on stdout, then serves until its stdin closes. The parent
holds the only write end of that pipe, so the server stops when the parent closes it *or dies
for any reason*: no orphaned server. Only stdlib and xllamacpp are imported, to keep the start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

READY_PREFIX = "HILGEN_LLAMA_LISTENING "


def serve(model_path: str, n_ctx: int, n_parallel: int, n_threads: int | None) -> None:
    import xllamacpp  # heavy native library, loaded only in the server process that needs it

    params = xllamacpp.CommonParams()
    params.model.path = model_path
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = n_ctx
    params.n_parallel = n_parallel
    if n_threads:
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
    server = xllamacpp.Server(params)
    print(READY_PREFIX + server.listening_address, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        sys.stdin.read()
    del server  # the destructor joins llama.cpp's HTTP and inference threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="path to a GGUF file")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context shared by all slots")
    parser.add_argument("--n-parallel", type=int, default=2, help="concurrent request slots")
    parser.add_argument("--n-threads", type=int, default=None, help="CPU threads (default: all)")
    args = parser.parse_args(argv)
    serve(args.model, args.n_ctx, args.n_parallel, args.n_threads)


if __name__ == "__main__":
    main()
