"""What the viewer shows, read from run directories: runs, grid, case, diff, bundle."""

from __future__ import annotations

import json
import re

import pytest

from evalkit.store import load_run, point_latest, rewrite_rows
from evalkit.view import data as views
from evalkit.view.bundle import write_bundle
from view_runs import HOSTILE, HOSTILE_CASE, HOSTILE_ROUTE, reports_with_two_runs


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view") / "reports"
    first, second = reports_with_two_runs(folder)
    point_latest(second)
    return folder, first, second


@pytest.fixture(scope="module")
def catalog(reports):
    catalog = views.Catalog([reports[0]])
    catalog.refresh()
    return catalog


def ids_of(catalog):
    return {run.dir.name: run.view_id for run in catalog.refresh()}


def test_a_reports_folder_lists_each_run_once_newest_first(reports, catalog):
    page = views.runs_page(catalog.refresh())
    assert [run["dir"].rsplit("/", 1)[1] for run in page["runs"]] == ["second", "first"]  # `latest` not counted again
    assert page["runs"][0]["suite"] == "support_triage" and page["runs"][0]["git_commit"]


def test_each_suite_has_a_history_of_every_routes_headline_metric(catalog):
    history = views.runs_page(catalog.refresh())["history"]["support_triage"]
    ids = ids_of(catalog)
    assert [run["id"] for run in history["runs"]] == [ids["first"], ids["second"]]  # oldest first
    assert set(history["routes"]) == {"base", "prompted", "rag", "tuned"}
    prompted = history["routes"]["prompted"]
    assert prompted[ids["second"]] == pytest.approx(prompted[ids["first"]] - 1 / 46)  # the hostile answer is wrong


def test_each_routes_provenance_is_shown_and_an_older_run_simply_has_none(reports, catalog):
    overview = views.run_overview(catalog.run(ids_of(catalog)["second"]))
    assert {(r["provenance"], r["evidence"], r["endpoint"]) for r in overview["routes"]} == {("stand-in", False, None)}
    run_dir = reports[2]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    older = json.loads(json.dumps(manifest))
    for info in older["routes"].values():
        for key in ("provenance", "endpoint", "evidence", "stale_parts"):
            info.pop(key, None)
    (run_dir / "manifest.json").write_text(json.dumps(older))
    try:
        overview = views.run_overview(catalog.run(ids_of(catalog)["second"]))
        assert {(r["provenance"], r["evidence"], r["endpoint"]) for r in overview["routes"]} == {(None, None, None)}
    finally:
        (run_dir / "manifest.json").write_text(json.dumps(manifest))


def test_the_grid_holds_every_case_and_every_route(catalog):
    grid = views.grid_page(catalog.run(ids_of(catalog)["second"]))
    assert len(grid["cases"]) == 46 and grid["routes"] == ["base", "prompted", "rag", "tuned"]
    assert all(set(case["cells"]) == set(grid["routes"]) for case in grid["cases"])


def test_a_cell_says_right_wrong_unparsed_or_error(catalog, reports):
    run = catalog.run(ids_of(catalog)["second"])
    grid = views.grid_page(run)
    statuses = {cell["status"] for case in grid["cases"] for cells in case["cells"].values() for cell in cells}
    assert statuses == {"right", "wrong", "unparsed"}
    hostile = next(c for c in grid["cases"] if c["id"] == HOSTILE_CASE)["cells"][HOSTILE_ROUTE][0]
    assert hostile["status"] == "unparsed" and hostile["output"] == HOSTILE
    assert views.row_status({"error": "RateLimitError: 429", "parsed_ok": False}) == "error"


def test_each_scored_field_of_the_suite_is_marked_as_the_run_graded_it(catalog):
    run = catalog.run(ids_of(catalog)["second"])
    assert views.scored_fields(run) == ["reason_code", "severity", "rationale"]  # task.fields of the example suite
    row = next(r for r in run.rows if (r["case_id"], r["route"]) == ("st-h-001", "base"))
    marks = next(c for c in views.grid_page(run)["cases"] if c["id"] == "st-h-001")["cells"]["base"][0]["fields"]
    severity, rationale = row["fields"]["severity"], row["fields"]["rationale"]
    assert marks[1] == {"field": "severity", "expected": severity["expected"], "got": severity["predicted"],
                        "status": "right" if severity["correct"] else "wrong", "distance": severity["distance"]}
    assert marks[2]["checks"] == rationale["checks"] and marks[2]["status"] == (
        "right" if rationale["correct"] else "wrong"
    )
    hostile = next(c for c in views.grid_page(run)["cases"] if c["id"] == HOSTILE_CASE)["cells"][HOSTILE_ROUTE][0]
    assert [m["status"] for m in hostile["fields"]] == ["unparsed"] * 3


def test_a_run_without_scored_fields_gets_closed_schema_fields_compared_exactly(tmp_path):
    from view_runs import example_run

    run_dir = example_run(tmp_path / "run", limit=3)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["suite"]["spec"]["task"].pop("fields")  # as a suite (or a run) from before task.fields
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    rows = load_run(run_dir).rows
    for row in rows:
        row.pop("fields"), row.pop("exact_match")
    rewrite_rows(run_dir, rows)
    run = views.Catalog([run_dir]).refresh()[0]
    assert views.scored_fields(run) == ["reason_code", "severity"]  # an enum in the schema; rationale is free text
    row = next(r for r in run.rows if (r["case_id"], r["route"]) == ("st-h-001", "base"))
    got = json.loads(row["output"])["severity"]
    mark = next(c for c in views.grid_page(run)["cases"] if c["id"] == "st-h-001")["cells"]["base"][0]["fields"][1]
    assert mark == {
        "field": "severity",
        "expected": "medium",
        "got": got,
        "status": "right" if got == "medium" else "wrong",
    }


def test_the_case_shows_the_request_as_recorded(catalog, reports):
    run = catalog.run(ids_of(catalog)["second"])
    page = views.case_page(run, catalog.extras(run), "st-h-001")
    recorded = [json.loads(line) for line in (reports[2] / "requests.jsonl").read_text().splitlines()]
    sent = next(r for r in recorded if (r["case_id"], r["route"]) == ("st-h-001", "rag"))
    rag = next(route for route in page["routes"] if route["name"] == "rag")
    assert rag["answers"][0]["request"] == {**sent, "source": "recorded"}
    assert page["run"]["requests_recorded"] and rag["answers"][0]["request_sha256"] == sent["request_sha256"]


def test_a_run_without_requests_jsonl_renders_them_again_from_its_unchanged_suite(catalog, reports):
    run = catalog.run(ids_of(catalog)["first"])
    page = views.case_page(run, catalog.extras(run), "st-h-001")
    assert page["run"]["requests_recorded"] is False
    recorded = {
        (r["case_id"], r["route"]): r for r in map(json.loads, (reports[2] / "requests.jsonl").read_text().splitlines())
    }
    for route in page["routes"]:
        request = route["answers"][0]["request"]
        sent = recorded[("st-h-001", route["name"])]
        assert request["source"] == "re-rendered"
        assert (request["messages"], request["params"]) == (sent["messages"], sent["params"])


def test_a_run_whose_suite_changed_since_shows_no_request(tmp_path):
    import shutil

    from view_runs import example_run

    run_dir = example_run(tmp_path / "run", limit=1)
    (run_dir / "requests.jsonl").unlink()  # a run from before requests.jsonl
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["suite"]["sha256"] = "0" * 64  # the suite file is no longer the one this run used
    (copy / "manifest.json").write_text(json.dumps(manifest))
    for folder, shown in ((run_dir, True), (copy, False)):
        catalog = views.Catalog([folder])
        run = catalog.refresh()[0]
        page = views.case_page(run, catalog.extras(run), "st-h-001")
        assert all((answer["request"] is not None) is shown for route in page["routes"] for answer in route["answers"])


def test_retrieved_chunks_carry_text_score_and_gold_mark(catalog):
    run = catalog.run(ids_of(catalog)["second"])
    case_id = next(c for c, case in run.cases.items() if case.get("sources"))
    gold = set(run.cases[case_id]["sources"])
    page = views.case_page(run, catalog.extras(run), case_id)
    chunks = next(route for route in page["routes"] if route["name"] == "rag")["answers"][0]["chunks"]
    row = next(r for r in run.rows if (r["case_id"], r["route"]) == (case_id, "rag"))
    assert [c["id"] for c in chunks] == row["retrieved"]
    assert all(c["text"] and c["score"] > 0 for c in chunks)
    assert [c["score"] for c in chunks] == sorted((c["score"] for c in chunks), reverse=True)
    assert [c["gold"] for c in chunks] == [c["id"].rsplit("#", 1)[0] in gold for c in chunks]
    assert any(c["gold"] for c in chunks)


def test_chunks_a_route_retrieved_itself_are_shown_as_recorded(catalog):
    run = catalog.run(ids_of(catalog)["second"])
    row = {
        "case_id": "st-h-001",
        "route": "rag",
        "retrieved": [{"id": "own-doc#0", "score": 0.7, "text": "our own text"}],
    }
    chunks = catalog.extras(run).chunks(row, {"sources": ["own-doc"]})
    assert chunks == [{"rank": 1, "id": "own-doc#0", "score": 0.7, "text": "our own text", "from": "recorded",
                       "doc": "own-doc", "gold": True}]


def test_scores_a_route_recorded_for_its_own_retrieval_are_shown_as_recorded(catalog):
    run = catalog.run(ids_of(catalog)["second"])
    row = {
        "case_id": "st-h-001",
        "route": "rag",
        "retrieved": ["triage-basics#2", "own-doc"],
        "retrieved_scores": [0.9, 0.4],
    }
    chunks = catalog.extras(run).chunks(row, {"sources": ["own-doc"]})
    assert [(c["id"], c["score"], c["from"], c["gold"]) for c in chunks] == [
        ("triage-basics#2", 0.9, "recorded", False), ("own-doc", 0.4, "recorded", True)]
    assert chunks[0]["text"] and chunks[1]["text"] is None  # an id the corpus knows gets its text, never a new score


def test_repair_passes_and_their_earlier_outputs_reach_the_case_page(tmp_path):
    from view_runs import example_run

    run_dir = example_run(tmp_path / "run", limit=1)
    rows = load_run(run_dir).rows
    rows[0]["repair"] = {"passes": 2, "first_parsed_ok": False, "outputs": ["not json", "{\"reason_code\": 3}"],
                         "parse_errors": ["invalid JSON", "label is not a string"]}
    rewrite_rows(run_dir, rows)
    catalog = views.Catalog([run_dir])
    run = catalog.refresh()[0]
    page = views.case_page(run, catalog.extras(run), rows[0]["case_id"])
    answer = next(r for r in page["routes"] if r["name"] == rows[0]["route"])["answers"][0]
    assert answer["repair_passes"] == 2 and answer["repair"]["outputs"] == ["not json", "{\"reason_code\": 3}"]
    other = next(r for r in page["routes"] if r["name"] != rows[0]["route"])["answers"][0]
    assert other["repair_passes"] == 0 and other["repair"] is None


def test_row_provenance_and_request_parts_reach_the_case_page(tmp_path):
    from view_runs import example_run

    run_dir = example_run(tmp_path / "run", limit=2)
    rows = load_run(run_dir).rows
    rows[0].update(request_sha256="ab" * 32, request_parts={"system": "cd" * 32}, provenance={"model_version": "x-1"})
    rewrite_rows(run_dir, rows)
    catalog = views.Catalog([run_dir])
    run = catalog.refresh()[0]
    page = views.case_page(run, catalog.extras(run), rows[0]["case_id"])
    answer = next(r for r in page["routes"] if r["name"] == rows[0]["route"])["answers"][0]
    assert answer["request_sha256"] == "ab" * 32 and answer["request_parts"] == {"system": "cd" * 32}
    assert answer["provenance"] == {"model_version": "x-1"}


def test_an_unknown_case_is_none(catalog):
    run = catalog.run(ids_of(catalog)["second"])
    assert views.case_page(run, catalog.extras(run), "no-such-case") is None


def test_the_diff_pairs_cases_and_names_what_flipped(catalog):
    ids = ids_of(catalog)
    diff = views.diff_page(catalog.run(ids["first"]), catalog.run(ids["second"]))
    assert diff["same_suite"] and diff["routes"] == ["base", "prompted", "rag", "tuned"]
    assert diff["counts"]["prompted"] == {"fixed": 0, "broken": 1, "changed": 0, "same": 45, "only_one_side": 0}
    assert diff["counts"]["tuned"]["same"] == 46
    moved = [c for c in diff["cases"] if c["cells"]["prompted"]["change"] != "same"]
    assert [c["id"] for c in moved] == [HOSTILE_CASE]
    assert moved[0]["cells"]["prompted"]["b"] == {"predicted": None, "status": "unparsed"}


def test_a_selection_run_says_so(tmp_path):
    from view_runs import example_run

    run_dir = example_run(tmp_path / "run", tags=["terse"])
    overview = views.run_overview(views.Catalog([run_dir]).refresh()[0])
    assert overview["selection"]["tags"] == ["terse"] and overview["n_cases"] == overview["selection"]["n_cases"]


def test_a_missing_folder_is_bad_input(tmp_path):
    from evalkit.errors import BadInput

    with pytest.raises(BadInput, match="no such folder"):
        views.find_run_dirs([tmp_path / "nowhere"])


def test_the_bundle_embeds_every_view_and_no_data_can_close_its_script(reports, tmp_path):
    index = write_bundle(tmp_path / "bundle", [reports[2]])
    html = index.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="evalkit-data">(.*?)</script>', html, re.DOTALL).group(1)
    assert "<" not in block and ">" not in block
    data = json.loads(block)
    assert data["start"] == data["runs"]["runs"][0]["id"]  # one run: the page opens on its grid
    assert len(data["grids"][data["start"]]["cases"]) == 46 and len(data["cases"][data["start"]]) == 46
    hostile = data["cases"][data["start"]][HOSTILE_CASE]
    assert next(r for r in hostile["routes"] if r["name"] == HOSTILE_ROUTE)["answers"][0]["output"] == HOSTILE
    assert "<script" not in html.split('id="evalkit-data">', 1)[1].split("</script>", 1)[0]


def test_a_bundle_of_two_runs_holds_their_diff(reports, tmp_path):
    index = write_bundle(tmp_path / "bundle", [reports[0]])
    block = re.search(r'id="evalkit-data">(.*?)</script>', index.read_text(encoding="utf-8"), re.DOTALL).group(1)
    data = json.loads(block)
    assert "start" not in data and len(data["diffs"]) == 1


def test_a_bundle_of_a_folder_without_runs_is_bad_input(tmp_path, capsys):
    from evalkit.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["view", "--bundle", str(tmp_path / "out"), str(tmp_path / "empty")]) == 2
    assert "no run directory found" in capsys.readouterr().err and not (tmp_path / "out" / "index.html").exists()


def test_the_bundle_command_prints_the_page_it_wrote(reports, tmp_path, capsys):
    from evalkit.cli import main

    assert main(["view", "--bundle", str(tmp_path / "out"), str(reports[2])]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "index.html")
