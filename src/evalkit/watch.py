"""`evalkit run SUITE --watch`: run, then run again whenever the suite file, its case files, its
output schema or its corpus change, and say what moved.

Changes are seen by polling modification times and sizes (no watcher library, nothing that a
network file system or an editor's atomic save can confuse). Each re-run is a new run
directory; answers the response cache holds cost nothing again, so an edit to one case makes
one call per route. Templates live in the suite file, so an edited prompt is an edited suite.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

#: seconds between looks at the files
INTERVAL_S = 1.0


def watched_files(suite_path: Path) -> list[Path]:
    """The suite file and every file it reads: case files, the output schema, the corpus."""
    from evalkit.suite import CaseSource, load_suite

    files = [Path(suite_path)]
    try:
        suite = load_suite(suite_path)
    except BadInput:
        return files  # a broken suite: its own file is what will change next
    spec = suite.spec
    for source in spec.cases if isinstance(spec.cases, list) else [spec.cases]:
        files.append(suite.resolve(source.path if isinstance(source, CaseSource) else source))
    if isinstance(spec.task.output_schema, str):
        files.append(suite.resolve(spec.task.output_schema))
    corpus = suite.corpus_path
    if corpus is not None:
        if corpus.is_dir():
            files += sorted(p for p in corpus.rglob("*") if p.is_file())
            files.append(corpus)  # a file added to or removed from the folder changes the folder's time
        elif corpus.is_file():
            files.append(corpus)
        else:
            files += sorted(Path(p) for p in glob.glob(str(corpus), recursive=True))
    return list(dict.fromkeys(files))


def snapshot(files: list[Path]) -> dict[Path, tuple[int, int] | None]:
    stamps: dict[Path, tuple[int, int] | None] = {}
    for path in files:
        try:
            info = path.stat()
            stamps[path] = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamps[path] = None
    return stamps


def changed(before: dict[Path, Any], after: dict[Path, Any]) -> list[Path]:
    return [path for path in after if before.get(path) != after[path]] + [p for p in before if p not in after]


def what_moved(previous_dir: Path, run_dir: Path) -> list[str]:
    """One line per route: its accuracy before and after, the cases fixed and broken, the
    labels that changed; and the cases added or removed."""
    from evalkit.store import load_run

    old, new = load_run(previous_dir), load_run(run_dir)

    def answers(run) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["route"], r["case_id"]): r for r in run.rows if r.get("repeat", 0) == 0}

    def accuracy(run, route: str) -> float | None:
        value = (((run.summary or {}).get("routes") or {}).get(route) or {}).get("accuracy")
        return value.get("value") if isinstance(value, dict) else None

    before, after = answers(old), answers(new)
    lines = []
    old_ids, new_ids = set(old.cases), set(new.cases)
    if new_ids - old_ids:
        lines.append(f"cases added: {', '.join(sorted(new_ids - old_ids))}")
    if old_ids - new_ids:
        lines.append(f"cases removed: {', '.join(sorted(old_ids - new_ids))}")
    for route in new.routes:
        fixed, broken, relabelled = [], [], []
        for (r, case_id), row in after.items():
            was = before.get((r, case_id))
            if r != route or was is None:
                continue
            if row.get("correct") and not was.get("correct"):
                fixed.append(case_id)
            elif was.get("correct") and not row.get("correct"):
                broken.append(case_id)
            elif (row.get("predicted_label"), bool(row.get("error"))) != (
                was.get("predicted_label"),
                bool(was.get("error")),
            ):
                relabelled.append(f"{case_id} ({was.get('predicted_label')} -> {row.get('predicted_label')})")
        a, b = accuracy(old, route), accuracy(new, route)
        head = f"{route}: accuracy {_num(a)} -> {_num(b)}" if a != b else f"{route}: accuracy {_num(b)}"
        parts = [f"fixed {', '.join(sorted(fixed))}" if fixed else "",
                 f"broken {', '.join(sorted(broken))}" if broken else "",
                 f"label changed {', '.join(sorted(relabelled))}" if relabelled else ""]
        parts = [p for p in parts if p]
        lines.append(f"{head}; " + "; ".join(parts) if parts else f"{head}; nothing moved")
    return lines


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def watch(
    suite_path: Path,
    run_once: Callable[[], Any],
    *,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] | None = None,
    interval: float = INTERVAL_S,
    max_runs: int | None = None,
) -> int:
    """Run, then re-run on every change until Ctrl-C (or `max_runs` runs). `run_once` returns
    a RunResult; bad input (a half-saved file) is printed and waited out, never fatal."""
    sleep = sleep or time.sleep
    runs = 0
    last_dir = None

    def attempt() -> None:
        nonlocal runs, last_dir
        runs += 1
        try:
            result = run_once()
        except BadInput as error:
            say(f"evalkit: error: {error} (watching for the fix)")
            return
        if last_dir is not None:
            say("what moved since the last run:")
            for line in what_moved(last_dir, result.run_dir):
                say(f"  {line}")
        last_dir = result.run_dir

    try:
        # the files are looked at before each run, so an edit saved while a run goes on is seen
        files = watched_files(suite_path)
        stamps = snapshot(files)
        attempt()
        say(f"watching {len(files)} file(s) for changes (Ctrl-C stops)")
        while max_runs is None or runs < max_runs:
            sleep(interval)
            moved = changed(stamps, snapshot(files))
            if not moved:
                continue
            say(
                "changed: "
                + ", ".join(str(p) for p in moved[:5])
                + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
            )
            files = watched_files(suite_path)  # the suite may name other files now
            stamps = snapshot(files)
            attempt()
    except KeyboardInterrupt:
        say("evalkit: stopped watching")
    return 0
