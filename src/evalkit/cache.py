"""A content-addressed response cache in SQLite (standard library `sqlite3`).

The key is the SHA-256 of the call's request fingerprint (evalkit.fingerprint: provider,
model, messages, params, output schema; the seed is one of the params), the endpoint the call
goes to and the repeat index, so repeats never share an entry. The API key is never part of
it, and nothing but the key's hash and the response is stored.

Modes: `off`, `read` (answers only from the cache; a miss is an error row), `write` (calls
and stores), `readwrite` (answers from the cache, calls and stores the misses). The default,
`auto`, is readwrite for routes at temperature 0 and off otherwise. Only remote providers
are cached. Errors are never stored. A cached answer keeps its original latency and tokens.

The database lives in the user's cache directory (`EVALKIT_CACHE_DIR` or `--cache-dir` move
it), in WAL mode; writes are committed in batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.providers.base import ProviderResponse
from evalkit.suite import canonical_json

MODES = ("auto", "off", "read", "write", "readwrite")
FILENAME = "responses.sqlite3"
#: how long a looked-up model shutdown date is reused (seconds)
MODEL_INFO_TTL_S = 24 * 3600
_FORMAT = 2  # bump when the key's contents change: old entries are simply never hit
_BATCH = 256  # (or a second's answers, whichever comes first: at most that much is lost with the process)
_BATCH_S = 1.0

_RESPONSE_FIELDS = ("text", "model", "input_tokens", "output_tokens", "latency_ms", "finish_reason", "request_id",
                    "retrieved", "cost_usd", "source_sha256",
                    "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")


def default_dir() -> Path:
    """`EVALKIT_CACHE_DIR`, else the platform's user cache directory for evalkit."""
    override = os.environ.get("EVALKIT_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("evalkit", appauthor=False))


def route_mode(mode: str, *, remote: bool, temperature: Any) -> str:
    """The cache mode of one route: only remote providers are cached; `auto` caches
    deterministic routes (temperature 0) and leaves sampled ones alone."""
    if not remote or mode == "off":
        return "off"
    if mode == "auto":
        return "readwrite" if temperature is not None and float(temperature) == 0.0 else "off"
    return mode


def cache_key(request_sha256: str, endpoint: str | None, repeat: int) -> str:
    """The key of one call: its request fingerprint (evalkit.fingerprint), the endpoint it goes
    to and its repeat index, so repeats never share an entry and two servers never answer for
    each other."""
    text = canonical_json({"format": _FORMAT, "request_sha256": request_sha256, "endpoint": endpoint,
                           "repeat": int(repeat)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """The SQLite store. Not thread-safe: use it from one thread (the run's event loop)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_dir()
        self.path = self.folder / FILENAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, "
                             "created REAL NOT NULL) WITHOUT ROWID")
            self._db.execute("CREATE TABLE IF NOT EXISTS models (key TEXT PRIMARY KEY, info TEXT NOT NULL, "
                             "fetched REAL NOT NULL) WITHOUT ROWID")
        except (OSError, sqlite3.Error) as error:
            from evalkit.errors import BadInput

            raise BadInput(f"cannot open the response cache: {error}; choose another folder with --cache-dir "
                           f"(or EVALKIT_CACHE_DIR), or run with --cache off", where=str(self.path)) from None
        self._pending: list[tuple[str, str, float]] = []
        self._last_flush = time.monotonic()

    # -- responses

    def get_many(self, keys: Iterable[str]) -> dict[str, ProviderResponse]:
        """The cached responses among `keys`, marked `cached`."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, ProviderResponse] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, stored in self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):
                found[key] = _response(stored)
        return found

    def get(self, key: str) -> ProviderResponse | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, response: ProviderResponse) -> None:
        """Store a successful response (buffered; committed in batches and on close)."""
        stored = {name: getattr(response, name) for name in _RESPONSE_FIELDS}
        from evalkit.store import json_text  # keys scrubbed, lone surrogates escaped

        self._pending.append((key, json_text(stored), time.time()))
        if len(self._pending) >= _BATCH or time.monotonic() - self._last_flush >= _BATCH_S:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO responses (key, response, created) VALUES (?, ?, ?)",
                                     self._pending)
            self._pending.clear()
        self._last_flush = time.monotonic()

    # -- model lookups (shutdown dates), reused for a day so a cached re-run sends nothing

    def model_info(self, key: str, max_age_s: float = MODEL_INFO_TTL_S) -> dict[str, Any] | None:
        row = self._db.execute("SELECT info, fetched FROM models WHERE key = ?", (key,)).fetchone()
        if row is None or time.time() - row[1] > max_age_s:
            return None
        return json.loads(row[0])

    def put_model_info(self, key: str, info: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO models (key, info, fetched) VALUES (?, ?, ?)",
                             (key, json.dumps(info), time.time()))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _response(stored: str) -> ProviderResponse:
    data = json.loads(stored)
    return ProviderResponse(**{name: data.get(name) for name in _RESPONSE_FIELDS}, attempts=0, cached=True)
