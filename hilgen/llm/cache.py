"""A persistent response cache, so sweeps replay for free and interrupted runs resume."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def cache_key(
    endpoint_identity: str, model: str, messages: list[dict[str, Any]], sampling: dict[str, Any]
) -> str:
    """SHA-256 of everything that decides the answer: endpoint, model, messages, sampling."""
    request = {
        "endpoint": endpoint_identity,
        "model": model,
        "messages": messages,
        "sampling": sampling,
    }
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Successful answers in one SQLite file (WAL), keyed by `cache_key`.

    Every insert is its own transaction, so a killed run loses at most the answer in flight
    and never leaves a half-written entry; WAL lets parallel sweep jobs read while one
    writes. A key is stored once (``INSERT OR IGNORE``). Only the request body and the answer
    are stored, never headers, so no API key can reach the file.
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            self.path, timeout=60.0, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, request TEXT NOT NULL, response TEXT NOT NULL,"
            " created REAL NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT response FROM responses WHERE key = ?", (key,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> bool:
        """Store an answer; False when the key was already there (it is never overwritten)."""
        with self._lock:
            cursor = self._connection.execute(
                "INSERT OR IGNORE INTO responses (key, request, response, created)"
                " VALUES (?, ?, ?, ?)",
                (key, json.dumps(request, ensure_ascii=False), json.dumps(response), time.time()),
            )
        return cursor.rowcount == 1

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
