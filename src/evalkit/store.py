"""The run directory: manifest.json, results.jsonl, summary.json, report.md.

Rows are appended and flushed the moment they finish, so a killed run loses only the
calls that were in flight. Every later stage (score, compare, gate, packet) reads a run
from here alone; `cases.jsonl` keeps the evaluated cases so reports can show inputs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput, RunIncomplete
from evalkit.secrets import scrub

MANIFEST, RESULTS, SUMMARY, REPORT, CASES = "manifest.json", "results.jsonl", "summary.json", "report.md", "cases.jsonl"
REQUESTS = "requests.jsonl"  # one line per call: the messages and parameters as sent (evalkit.executor.request_line)
LATEST = "latest"

def row_key(row: dict[str, Any]) -> tuple[str, str, int]:
    return row["case_id"], row["route"], row.get("repeat", 0)


def json_text(data: Any, **options: Any) -> str:
    """JSON as text UTF-8 can hold, with every known key scrubbed. A string UTF-8 cannot hold (a
    lone surrogate in a model's output) is written as its JSON escape (backslash-u)."""
    text = json.dumps(data, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, ensure_ascii=True, **options)
    return scrub(text)


def safe_text(text: str) -> str:
    """`text` as UTF-8 can hold it: a lone surrogate becomes its escape (backslash-u) (a model's output
    may hold one; storing it must not fail the run)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json_text(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """A text file of the run directory (a report): keys scrubbed, lone surrogates escaped."""
    path.write_text(scrub(safe_text(text)), encoding="utf-8")


#: how often (seconds) appending rows checks that results.jsonl is still the file it opened
CHECK_EVERY_S = 0.05


def json_line(record: dict[str, Any]) -> bytes:
    """One JSONL line in UTF-8, keys scrubbed; a lone surrogate is kept as its JSON escape."""
    text = scrub(json.dumps(record, ensure_ascii=False))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return scrub(json.dumps(record)).encode("utf-8") + b"\n"


class ResultsReplaced(RunIncomplete):
    """results.jsonl was replaced under a running run: rows appended from then on would be lost."""


class RunWriter:
    """Appends rows to results.jsonl as they finish, and each row's request to requests.jsonl
    (first, so a row never lacks its request). Each append first checks that results.jsonl is
    still the file it opened: a run whose results were replaced stops (ResultsReplaced)."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._path = results = run_dir / RESULTS
        requests = run_dir / REQUESTS
        _drop_torn_tail(results)
        _drop_torn_tail(requests)
        self._file = results.open("ab")  # UTF-8 bytes, encoded once per row
        self._requests = requests.open("ab")
        stat = os.fstat(self._file.fileno())
        self._identity = (stat.st_dev, stat.st_ino)
        self._checked = 0.0

    def append(self, row: dict[str, Any], request: dict[str, Any] | bytes | None = None) -> None:
        """`request`: its requests.jsonl record, or that record's line already encoded (`json_line`)."""
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY_S:
            self.check()
            self._checked = now
        if request is not None:
            self._requests.write(request if isinstance(request, bytes) else json_line(request))
            self._requests.flush()
        self._file.write(json_line(row))
        self._file.flush()

    def check(self) -> None:
        """Raise ResultsReplaced when results.jsonl is no longer the file this writer appends to."""
        try:
            stat = os.stat(self._path)
            same = (stat.st_dev, stat.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            raise ResultsReplaced(f"{self._path} was replaced or removed while this run wrote it (another process "
                                  f"rewrote the run directory): the run stopped")

    def close(self) -> None:
        self._file.close()
        self._requests.close()


def lock_run(run_dir: Path):
    """Hold an exclusive lock on the run for this process, or stop with BadInput (exit 2) when
    another process holds it: a run appending rows, or a command rewriting the run directory.
    The lock is on a file of its own, which nothing replaces (results.jsonl is rewritten by
    `score` and --retry-errors, and a lock on the old file would no longer guard the new one).
    Close the returned handle to release it."""
    handle = (run_dir / ".lock").open("a", encoding="utf-8")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise BadInput(
            "another evalkit process is writing this run; wait for it or stop it first", where=str(run_dir)
        ) from None
    return handle


def is_evalkit_link(path: Path) -> bool:
    """A `latest` evalkit made: a symbolic link to a sibling folder, its target a bare name."""
    if not path.is_symlink():
        return False
    target = os.readlink(path)
    return bool(target) and "/" not in target and os.sep not in target and target not in (".", "..")


def point_latest(run_dir: Path) -> bool:
    """Make `latest` beside `run_dir` a symbolic link to it, so `reports/SUITE/latest` names the
    newest run. Only a link evalkit made is replaced: anything else of that name (a file, a
    folder, another link) stays as it is, and the answer is False. Best effort: where links
    cannot be made, nothing changes."""
    link = run_dir.parent / LATEST
    if (link.exists() or link.is_symlink()) and not is_evalkit_link(link):
        return False
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
    return True


def write_cases(run_dir: Path, cases) -> None:
    with (run_dir / CASES).open("w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(case.model_dump_json(exclude_none=True) + "\n")


def rewrite_rows(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    tmp = run_dir / (RESULTS + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json_text(row) + "\n")
    os.replace(tmp, run_dir / RESULTS)


def _drop_torn_tail(path: Path) -> None:
    """A process killed mid-write can leave half a line; cut it so appends stay valid. A last
    line that is whole but lacks its newline is a row `load_rows` counts: it gets the newline."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        data = path.read_bytes()
        start = data.rfind(b"\n") + 1
        if _row(data[start:]) is not None:
            handle.write(b"\n")
        else:
            handle.truncate(start)


def _row(line: bytes) -> Any:
    """A stored line's JSON, or None when it does not decode (as the torn tail of a killed run)."""
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def load_requests(run_dir: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The recorded requests of a run by (case id, route, repeat); the last line of a call wins
    (a resumed call is sent again). Empty for runs made before requests were kept."""
    found = {}
    for line in _lines(run_dir / REQUESTS):
        record = _row(line)
        if isinstance(record, dict):
            found[(record["case_id"], record["route"], record.get("repeat", 0))] = record
    return found


def _lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    # split on newlines only: a line written with ensure_ascii=False may hold U+2028 or U+0085
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def load_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / RESULTS
    if not path.exists():
        return []
    rows = []
    # split on newlines only: a row written with ensure_ascii=False may hold U+2028 or U+0085
    lines = path.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        row = _row(line)
        if row is None:
            if number == len(lines):  # torn last line of a killed run: that call is redone on resume
                break
            raise BadInput("a results row is not valid JSON", where=f"{path}:{number}")
        rows.append(row)
    return rows


@dataclass
class Run:
    """A stored run: its manifest, rows, the cases it evaluated, and its summary if written."""

    dir: Path
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    view_id: str = field(default="", init=False, repr=False, compare=False)  # the run's id in `evalkit view`

    @property
    def routes(self) -> list[str]:
        return list(self.manifest.get("routes", {}))

    @property
    def labels(self) -> list[str]:
        return self.manifest["suite"]["spec"]["task"]["labels"]

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        """The task's scored fields (evalkit.fields), as the suite declared them."""
        return self.manifest["suite"]["spec"]["task"].get("fields") or {}

    def route_rows(self, route: str) -> list[dict[str, Any]]:
        if route not in self.manifest.get("routes", {}):
            raise BadInput(
                f"route {route!r} is not in this run (routes: {', '.join(self.routes)})", where=str(self.dir)
            )
        return [r for r in self.rows if r["route"] == route]


def follow_latest(run_dir: str | Path) -> Path:
    """The run a `latest` link names (so reports and packets record the run, not the link)."""
    run_dir = Path(run_dir)
    if run_dir.name == LATEST and run_dir.is_symlink():
        return run_dir.parent / os.readlink(run_dir)
    return run_dir


def load_run(run_dir: str | Path) -> Run:
    run_dir = follow_latest(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise BadInput("not a run directory: manifest.json is missing", where=str(run_dir))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"manifest.json is not valid JSON: {exc.msg}", where=str(manifest_path)) from None
    cases = {}
    if (run_dir / CASES).exists():
        for line in (run_dir / CASES).read_text(encoding="utf-8").split("\n"):  # as in load_rows
            if line.strip():
                case = json.loads(line)
                cases[case["id"]] = case
    summary = None
    if (run_dir / SUMMARY).exists():
        summary = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
    return Run(run_dir, manifest, load_rows(run_dir), cases, summary)


def parse_run_ref(ref: str, default_dir: Path | None = None) -> tuple[Path, str]:
    """`RUN_DIR:ROUTE` (or `ROUTE` alone when a default run is given) -> (dir, route)."""
    directory, sep, route = ref.rpartition(":")
    if not sep or not route:
        if default_dir is not None and ref:
            return default_dir, ref
        raise BadInput(f"expected RUN_DIR:ROUTE, got {ref!r}")
    if not directory:
        if default_dir is None:
            raise BadInput(f"expected RUN_DIR:ROUTE, got {ref!r}")
        return default_dir, route
    return follow_latest(directory), route
