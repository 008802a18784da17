"""What the viewer shows, as plain dicts: the runs, one run's grid, one case, a diff of two runs.

Everything here reads run directories and nothing else writes them. Keys that newer runs add
(a row's `request_sha256`, `request_parts` and `provenance`; a manifest route's `provenance`
and `endpoint`; the run's `requests.jsonl`) are shown when present and simply absent when a run
predates them.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from evalkit import store
from evalkit.headline import HEADLINE
from evalkit.provenance import route_models

REQUESTS = "requests.jsonl"
#: the metric charted across runs (every headline metric is shown per route: evalkit.headline)
CHARTED = "accuracy"
#: how deep below a REPORTS_DIR run directories are looked for (reports/SUITE/RUN-ID is 2)
SEARCH_DEPTH = 3


# -- finding runs ------------------------------------------------------------------------------

def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Every run directory in `paths`: each is a run directory itself or a folder holding runs
    (a `latest` link is followed once, not counted twice). Sorted, without duplicates."""
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        if not path.exists():
            from evalkit.errors import BadInput

            raise BadInput("no such folder", where=str(path))
        path = store.follow_latest(path)
        for run_dir in _walk(path, SEARCH_DEPTH):
            found.setdefault(run_dir.resolve(), run_dir)
    return sorted(found.values(), key=lambda p: str(p))


def _walk(folder: Path, depth: int):
    if (folder / store.MANIFEST).is_file():
        yield folder
        return
    if depth <= 0:
        return
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name == store.LATEST or child.name.startswith(".") or not child.is_dir():
            continue
        yield from _walk(child, depth - 1)


class Catalog:
    """The runs under the given paths, loaded once each and reloaded when their files change
    (a run still being written, or a `--watch` that adds runs, shows up on the next request)."""

    def __init__(self, paths: list[str | Path]):
        self.paths = list(paths)
        self._loaded: dict[Path, tuple[tuple, store.Run]] = {}
        self._ids: dict[str, Path] = {}
        self._extras: dict[tuple, Any] = {}

    def refresh(self) -> list[store.Run]:
        runs = []
        ids: dict[str, Path] = {}
        for run_dir in find_run_dirs(self.paths):
            stamp = _stamp(run_dir)
            held = self._loaded.get(run_dir)
            if held is None or held[0] != stamp:
                try:
                    held = (stamp, store.load_run(run_dir))
                except Exception:  # noqa: BLE001 - one unreadable run must not hide the others
                    continue
                self._loaded[run_dir] = held
            run = held[1]
            run_id = str(run.manifest.get("run_id") or run_dir.name)
            key, n = run_id, 2
            while key in ids:
                key, n = f"{run_id}-{n}", n + 1
            ids[key] = run_dir
            run.view_id = key
            runs.append(run)
        self._ids = ids
        runs.sort(key=lambda r: (r.manifest.get("started_at") or "", r.view_id), reverse=True)
        return runs

    def run(self, run_id: str) -> store.Run | None:
        if run_id not in self._ids:
            self.refresh()
        run_dir = self._ids.get(run_id)
        if run_dir is None:
            return None
        stamp = _stamp(run_dir)
        held = self._loaded.get(run_dir)
        if held is None or held[0] != stamp:
            try:
                held = self._loaded[run_dir] = (stamp, store.load_run(run_dir))
            except Exception:  # noqa: BLE001 - removed or half-written since it was listed
                return None
            held[1].view_id = run_id
        return held[1]

    def extras(self, run: store.Run) -> RunExtras:
        key = (run.dir, _stamp(run.dir))
        if key not in self._extras:
            self._extras[key] = RunExtras(run)
        return self._extras[key]


def _stamp(run_dir: Path) -> tuple:
    stamp: list[tuple[int, int] | None] = []
    for name in (store.MANIFEST, store.RESULTS, store.SUMMARY, REQUESTS):
        try:
            info = (run_dir / name).stat()
            stamp.append((info.st_mtime_ns, info.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


# -- the Runs page -----------------------------------------------------------------------------

def _metric(summary: dict[str, Any] | None, route: str, name: str) -> dict[str, Any] | None:
    value = ((summary or {}).get("routes", {}).get(route) or {}).get(name)
    if isinstance(value, dict) and "value" in value:
        return {"value": value["value"], "ci95": value.get("ci95"), "n": value.get("n")}
    return None


def run_overview(run: store.Run) -> dict[str, Any]:
    manifest = run.manifest
    routes = []
    for name, info in manifest.get("routes", {}).items():
        s = ((run.summary or {}).get("routes", {}).get(name)) or {}
        cost = s.get("cost_usd")
        routes.append({
            "name": name, "kind": info.get("kind"), "model": info.get("model"),
            "ran_as": route_models(info).ran_as, "reported_model": route_models(info).reported,
            "provenance": info.get("provenance"), "endpoint": info.get("endpoint"), "evidence": info.get("evidence"),
            "stale_parts": info.get("stale_parts") or [],
            "metrics": {m: _metric(run.summary, name, m) for m in HEADLINE},
            "n": s.get("n"), "errors": s.get("errors"),
            "cost_total": cost.get("total") if isinstance(cost, dict) else None,
            "latency_p50": (s.get("latency_ms") or {}).get("p50"),
        })
    git = manifest.get("git") or {}
    return {
        "id": run.view_id, "dir": str(run.dir), "suite": (manifest.get("suite") or {}).get("name"),
        "started_at": manifest.get("started_at"), "ended_at": manifest.get("ended_at"),
        "status": manifest.get("status"), "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
        "offline": manifest.get("offline"), "replay": manifest.get("replay"), "selection": manifest.get("selection"),
        "n_cases": len(run.cases) or len({r["case_id"] for r in run.rows}), "n_rows": len(run.rows),
        "has_requests": (run.dir / REQUESTS).is_file(), "routes": routes,
    }


def runs_page(runs: list[store.Run]) -> dict[str, Any]:
    """Every run, newest first, and per suite the headline metric of each route across its runs
    (oldest first: the chart's x axis)."""
    overviews = [run_overview(run) for run in runs]
    history: dict[str, dict[str, Any]] = {}
    for item in reversed(overviews):
        suite = history.setdefault(item["suite"] or "?", {"runs": [], "routes": {}})
        suite["runs"].append({"id": item["id"], "started_at": item["started_at"], "git_commit": item["git_commit"]})
        for route in item["routes"]:
            metric = route["metrics"].get(CHARTED)
            suite["routes"].setdefault(route["name"], {})[item["id"]] = metric["value"] if metric else None
    metrics = [{"name": m.name, "label": m.label, "percent": m.percent} for m in HEADLINE.values()]
    return {"runs": overviews, "headline": CHARTED, "metrics": metrics, "history": history}


# -- scoring what a row holds, field by field --------------------------------------------------

def _spec(run: store.Run) -> dict[str, Any]:
    return (run.manifest.get("suite") or {}).get("spec") or {}


def scored_fields(run: store.Run) -> list[str]:
    """The fields a cell shows a mark for: the label field, then the suite's scored fields
    (`task.fields`, graded by the run into each row's `fields`). A run of a suite without them
    (or from before them) gets the viewer's own reading: every other top-level field the output
    schema closes (an enum, a boolean or a number), compared exactly; free text is not marked."""
    task = _spec(run).get("task") or {}
    label_field = task.get("label_field")
    fields = [label_field or "label"]
    if task.get("fields"):
        return fields + [name for name in task["fields"] if name != label_field]
    schema = (run.manifest.get("suite") or {}).get("output_schema")
    if task.get("output_format", "json") != "json" or not isinstance(schema, dict):
        return fields
    if not any(isinstance(case.get("expected"), dict) for case in run.cases.values()):
        return fields
    for name, prop in (schema.get("properties") or {}).items():
        if name == label_field or not isinstance(prop, dict):
            continue
        if "enum" in prop or prop.get("type") in ("boolean", "integer", "number"):
            fields.append(name)
    return fields


def row_status(row: dict[str, Any]) -> str:
    if row.get("error"):
        return "error"
    if not row.get("parsed_ok"):
        return "unparsed"
    return "right" if row.get("correct") else "wrong"


def parse_output(run: store.Run, output: Any) -> Any:
    """The output as the scorer reads it (json mode: the object; text mode: the text), or None."""
    if not isinstance(output, str):
        return None
    if ((_spec(run).get("task") or {}).get("output_format", "json")) != "json":
        return None
    from evalkit.scoring import parse_json

    try:
        return parse_json(output)
    except ValueError:
        return None


def field_marks(run: store.Run, row: dict[str, Any], fields: list[str], parsed: Any) -> list[dict[str, Any]]:
    """Per scored field: expected, got, and right / wrong / unparsed / error (None: not expected)."""
    from evalkit.cases import get_path

    status = row_status(row)
    case = run.cases.get(row["case_id"]) or {}
    expected = case.get("expected")
    graded = row.get("fields") if isinstance(row.get("fields"), dict) else None
    marks = []
    for i, name in enumerate(fields):
        if i == 0:  # the label field: the run's own verdict
            marks.append({"field": name, "expected": row.get("expected_label"), "got": row.get("predicted_label"),
                          "status": status})
            continue
        if graded is not None:  # the run graded it (task.fields): its verdict, as stored
            score = graded.get(name) or {}
            correct = score.get("correct")
            mark = (
                status
                if status in ("error", "unparsed")
                else None
                if correct is None
                else "right"
                if correct
                else "wrong"
            )
            marks.append(
                {
                    "field": name,
                    "expected": score.get("expected"),
                    "got": score.get("predicted"),
                    "status": mark,
                    **{key: score[key] for key in ("distance", "checks", "judge") if key in score},
                }
            )
            continue
        want = get_path(expected, name) if isinstance(expected, dict) else None
        if want is None:
            marks.append({"field": name, "expected": None, "got": None, "status": None})
            continue
        got = get_path(parsed, name) if isinstance(parsed, dict) else None
        if status in ("error", "unparsed"):
            mark = status
        else:
            mark = "right" if got == want else "wrong"
        marks.append({"field": name, "expected": want, "got": got, "status": mark})
    return marks


def case_text(case: dict[str, Any]) -> str:
    from evalkit.cases import input_text

    value = case.get("input")
    try:
        return input_text(value) if value is not None else ""
    except (KeyError, TypeError, AttributeError):
        return json.dumps(value, ensure_ascii=False)


# -- the Grid page -----------------------------------------------------------------------------

def grid_page(run: store.Run) -> dict[str, Any]:
    """Cases x routes: per cell each repeat's predicted label, status and field marks, and the
    output text (for search). Every case of the run is here: the page filters, nothing pages."""
    fields = scored_fields(run)
    by_case: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    order: list[str] = list(run.cases)
    for row in sorted(run.rows, key=lambda r: r.get("repeat", 0)):
        if row["case_id"] not in run.cases and row["case_id"] not in order:
            order.append(row["case_id"])
        parsed = parse_output(run, row.get("output"))
        by_case[row["case_id"]][row["route"]].append({
            "repeat": row.get("repeat", 0), "predicted": row.get("predicted_label"), "status": row_status(row),
            "fields": field_marks(run, row, fields, parsed), "output": row.get("output"), "error": row.get("error"),
            "exact_match": row.get("exact_match"),
        })
    cases: list[dict[str, Any]] = []
    for case_id in order:
        case = run.cases.get(case_id) or {}
        rows = [r for cells in by_case.get(case_id, {}).values() for r in cells]
        expected = rows[0]["fields"][0]["expected"] if rows else None
        cases.append({"id": case_id, "tags": case.get("tags") or [], "expected": expected, "text": case_text(case),
                      "cells": dict(by_case.get(case_id, {}))})
    labels = ((_spec(run).get("task") or {}).get("labels")) or []
    return {"run": run_overview(run), "routes": run.routes, "fields": fields, "labels": labels,
            "tags": sorted({t for c in cases for t in c["tags"]}), "cases": cases}


# -- the Case page -----------------------------------------------------------------------------

class RunExtras:
    """What a case page adds to the rows: the requests as sent (requests.jsonl) and the text and
    score of each retrieved chunk (from the corpus, when the suite's corpus is still there)."""

    def __init__(self, run: store.Run):
        self.run = run
        self.requests: dict[tuple, dict[str, Any]] = {}
        path = run.dir / REQUESTS
        self.recorded = path.is_file()
        if self.recorded:
            for line in path.read_bytes().split(b"\n"):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and "case_id" in item and "route" in item:
                    self.requests[(item["case_id"], item["route"], item.get("repeat", 0))] = item
        self._retrievers: dict[str, Any] = {}
        self._plans: tuple[Any, dict[str, Any]] | None = None

    def request(self, case_id: str, route: str, repeat: int) -> dict[str, Any] | None:
        """The request as recorded in requests.jsonl; for a run that predates that file, the
        request rendered again from its suite when the suite and its cases are byte for byte
        the ones the run used (their SHA-256 in the manifest), and so render the same."""
        found = self.requests.get((case_id, route, repeat))
        if found is not None:
            return {**found, "source": "recorded"}
        if self.recorded:
            return None
        return self._rerender(case_id, route)

    def _rerender(self, case_id: str, route: str) -> dict[str, Any] | None:
        if self._plans is None:
            self._plans = self._load_plans()
        suite, plans = self._plans
        if suite is None or route not in plans:
            return None
        case = next((c for c in suite.holdout if c.id == case_id), None)
        if case is None:
            return None
        from evalkit.planning import route_params

        try:
            messages = plans[route].render(case).messages
        except Exception:  # noqa: BLE001 - a request that cannot be rendered is simply not shown
            return None
        return {"route": route, "case_id": case_id, "messages": messages,
                "params": route_params(suite, route, self.run.manifest.get("timeout_s")), "source": "re-rendered"}

    def _load_plans(self):
        path = self._suite_file()
        manifest = self.run.manifest
        if path is None:
            return None, {}
        from evalkit.planning import build_plans
        from evalkit.suite import load_suite

        try:
            suite = load_suite(path)
            if suite.sha256 != (manifest.get("suite") or {}).get("sha256") or suite.cases_sha256 != manifest.get(
                "cases_sha256"
            ):
                return None, {}
            return suite, build_plans(suite, [r for r in self.run.routes if r in suite.spec.routes])
        except Exception:  # noqa: BLE001 - a suite that no longer loads: the request is not shown
            return None, {}

    def _suite_file(self) -> Path | None:
        path = (self.run.manifest.get("suite") or {}).get("path")
        if not path:
            return None
        candidates = [Path(path)] if Path(path).is_absolute() else [Path(path), Path.cwd() / path]
        return next((candidate for candidate in candidates if candidate.is_file()), None)

    def _suite_folder(self) -> Path | None:
        path = self._suite_file()
        return path.parent if path is not None else None

    def retriever(self, route: str):
        if route in self._retrievers:
            return self._retrievers[route]
        retriever = None
        spec = _spec(self.run)
        info = (spec.get("routes") or {}).get(route) or {}
        folder = self._suite_folder()
        if info.get("kind") == "rag" and spec.get("corpus") and folder is not None:
            from evalkit.retrieval import Retriever, load_documents

            settings = info.get("retrieval") or {}
            corpus = Path(os.path.expanduser(spec["corpus"]))
            corpus = corpus if corpus.is_absolute() else folder / corpus
            try:
                retriever = Retriever(
                    load_documents(corpus), settings.get("chunk_chars", 800), settings.get("overlap", 100)
                )
            except Exception:  # noqa: BLE001 - the corpus may have moved; the ids are still shown
                retriever = None
        self._retrievers[route] = retriever
        return retriever

    def chunks(self, row: dict[str, Any], case: dict[str, Any]) -> list[dict[str, Any]]:
        """The row's retrieved chunks in rank order: id, document, score, text, gold."""
        retrieved = row.get("retrieved") or []
        recorded_scores = row.get("retrieved_scores")  # a route that retrieves itself records its scores
        gold = set(case.get("sources") or [])
        chunks: list[dict[str, Any]] = []
        for rank, item in enumerate(retrieved, start=1):
            if isinstance(item, dict):  # {id, score, text}, as a route's own retrieval returns them
                chunks.append(
                    {
                        "rank": rank,
                        "id": str(item.get("id")),
                        "score": item.get("score"),
                        "text": item.get("text"),
                        "from": "recorded",
                    }
                )
                continue
            score = (
                recorded_scores[rank - 1]
                if isinstance(recorded_scores, list) and rank <= len(recorded_scores)
                else None
            )
            chunks.append({"rank": rank, "id": str(item), "score": score, "text": None,
                           "from": "recorded" if recorded_scores is not None else None})
        if any(c["text"] is None for c in chunks):
            retriever = self.retriever(row["route"])
            if retriever is not None:
                scores = None
                index = {c.id: i for i, c in enumerate(retriever.chunks)}
                for chunk in chunks:
                    i = index.get(chunk["id"])
                    if chunk["text"] is not None or i is None:
                        continue
                    chunk["text"] = retriever.chunks[i].text
                    if chunk["from"] is None:  # evalkit's retriever: the score it gave, computed again
                        if scores is None:
                            scores = retriever._index.scores(case_text(case))  # the same index the run used
                        chunk.update(score=float(scores[i]), **{"from": "corpus"})
        for chunk in chunks:
            doc = chunk["id"].rsplit("#", 1)[0]
            chunk["doc"] = doc
            chunk["gold"] = doc in gold or chunk["id"] in gold
        return chunks


def _rows_by_case(run: store.Run) -> dict[str, list[dict[str, Any]]]:
    """The run's rows grouped by case, computed once per loaded run (a bundle asks for every case)."""
    grouped = run.__dict__.get("_view_rows_by_case")
    if grouped is None:
        grouped = defaultdict(list)
        for row in run.rows:
            grouped[row["case_id"]].append(row)
        run.__dict__["_view_rows_by_case"] = grouped
    return grouped


def _neighbours(run: store.Run) -> dict[str, tuple[str | None, str | None]]:
    found = run.__dict__.get("_view_neighbours")
    if found is None:
        ids = list(run.cases) or sorted({r["case_id"] for r in run.rows})
        found = {case_id: (ids[i - 1] if i > 0 else None, ids[i + 1] if i < len(ids) - 1 else None)
                 for i, case_id in enumerate(ids)}
        run.__dict__["_view_neighbours"] = found
    return found


def case_page(run: store.Run, extras: RunExtras, case_id: str) -> dict[str, Any] | None:
    rows = _rows_by_case(run).get(case_id, [])
    if case_id not in run.cases and not rows:
        return None
    case = run.cases.get(case_id) or {"id": case_id}
    fields = scored_fields(run)
    routes = []
    for name, info in run.manifest.get("routes", {}).items():
        answers = []
        for row in sorted((r for r in rows if r["route"] == name), key=lambda r: r.get("repeat", 0)):
            parsed = parse_output(run, row.get("output"))
            request = extras.request(case_id, name, row.get("repeat", 0))
            answers.append(
                {
                    "repeat": row.get("repeat", 0),
                    "status": row_status(row),
                    "predicted": row.get("predicted_label"),
                    "expected": row.get("expected_label"),
                    "output": row.get("output"),
                    "parsed": parsed,
                    "parse_error": row.get("parse_error"),
                    "error": row.get("error"),
                    "fields": field_marks(run, row, fields, parsed),
                    "chunks": extras.chunks(row, case),
                    "request": request,
                    "numbers": {
                        key: row.get(key)
                        for key in (
                            "input_tokens",
                            "output_tokens",
                            "latency_ms",
                            "cost_usd",
                            "attempts",
                            "cached",
                            "finish_reason",
                            "model",
                            "request_id",
                        )
                    },
                    "repair": row.get("repair"),
                    "repair_passes": (row.get("repair") or {}).get("passes", 0)
                    if isinstance(row.get("repair"), dict)
                    else 0,
                    "request_sha256": row.get("request_sha256") or (request or {}).get("request_sha256"),
                    "request_parts": row.get("request_parts"),
                    "provenance": row.get("provenance"),
                    "exact_match": row.get("exact_match"),
                    "stale_parts": row.get("stale_parts"),
                }
            )
        routes.append({"name": name, "kind": info.get("kind"), "model": info.get("model"),
                       "ran_as": route_models(info).ran_as, "provenance": info.get("provenance"),
                       "endpoint": info.get("endpoint"), "evidence": info.get("evidence"), "answers": answers})
    previous, following = _neighbours(run).get(case_id, (None, None))
    return {"run": {"id": run.view_id, "suite": (run.manifest.get("suite") or {}).get("name"),
                    "requests_recorded": extras.recorded},
            "case": {**case, "text": case_text(case)}, "fields": fields, "routes": routes,
            "previous": previous, "next": following}


# -- the Diff page -----------------------------------------------------------------------------

def _majority(cells: list[dict[str, Any]]) -> dict[str, Any] | None:
    return cells[0] if cells else None


def diff_page(a: store.Run, b: store.Run) -> dict[str, Any]:
    """Two runs case by case: per route both runs have, each case's label and status on each
    side, and whether it was fixed, broken or changed its label."""
    grid_a, grid_b = grid_page(a), grid_page(b)
    routes = [r for r in grid_a["routes"] if r in grid_b["routes"]]
    cases_a = {c["id"]: c for c in grid_a["cases"]}
    cases_b = {c["id"]: c for c in grid_b["cases"]}
    ids = list(cases_a) + [i for i in cases_b if i not in cases_a]
    counts = {route: {"fixed": 0, "broken": 0, "changed": 0, "same": 0, "only_one_side": 0} for route in routes}
    rows = []
    for case_id in ids:
        ca, cb = cases_a.get(case_id), cases_b.get(case_id)
        cells = {}
        for route in routes:
            x = _majority((ca or {}).get("cells", {}).get(route, []))
            y = _majority((cb or {}).get("cells", {}).get(route, []))
            if x is None or y is None:
                change = "only_one_side"
            elif x["status"] != "right" and y["status"] == "right":
                change = "fixed"
            elif x["status"] == "right" and y["status"] != "right":
                change = "broken"
            elif (x["predicted"], x["status"]) != (y["predicted"], y["status"]):
                change = "changed"
            else:
                change = "same"
            counts[route][change] += 1
            cells[route] = {"a": x and {k: x[k] for k in ("predicted", "status")},
                            "b": y and {k: y[k] for k in ("predicted", "status")}, "change": change}
        case: Any = ca or cb  # one side has it
        rows.append(
            {"id": case_id, "tags": case["tags"], "expected": case["expected"], "text": case["text"], "cells": cells}
        )
    return {"a": grid_a["run"], "b": grid_b["run"], "routes": routes, "counts": counts, "cases": rows,
            "same_suite": grid_a["run"]["suite"] == grid_b["run"]["suite"]}


# -- everything at once (the static bundle) ----------------------------------------------------

def everything(catalog: Catalog) -> dict[str, Any]:
    """Every page of every run, for a bundle that needs no server."""
    runs = catalog.refresh()
    data: dict[str, Any] = {"runs": runs_page(runs), "grids": {}, "cases": {}, "diffs": {}}
    for run in runs:
        extras = catalog.extras(run)
        data["grids"][run.view_id] = grid_page(run)
        data["cases"][run.view_id] = {case_id: case_page(run, extras, case_id)
                                      for case_id in (c["id"] for c in data["grids"][run.view_id]["cases"])}
    by_suite: dict[str | None, list[store.Run]] = defaultdict(list)
    for run in reversed(runs):  # oldest first
        by_suite[(run.manifest.get("suite") or {}).get("name")].append(run)
    for suite_runs in by_suite.values():
        for older, newer in itertools.pairwise(suite_runs):
            data["diffs"][f"{older.view_id}..{newer.view_id}"] = diff_page(older, newer)
    return data
