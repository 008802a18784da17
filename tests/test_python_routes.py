"""python: routes: the team's own function answers a route, sync or async, with its retrieval scored."""

from __future__ import annotations

import json
import textwrap

import pytest

from conftest import HOLDOUT, TRAIN
from evalkit.cli import main
from stub_helpers import rows, run

ANSWER_BY_WORD = textwrap.dedent('''
    import json

    def pick(text):
        text = text.lower()
        if "charge" in text:
            return "billing_dispute"
        if "cancel" in text:
            return "cancellation"
        return "login_failure"
''')


def write_function(folder, body: str, name: str = "pipeline.py"):
    (folder / name).write_text(ANSWER_BY_WORD + textwrap.dedent(body), encoding="utf-8")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))


def python_suite(make_suite, target: str = "python:pipeline.py:answer", **route):
    return make_suite(routes={"own": {"kind": "base", "model": target, **route}})


def test_sync_function_answers_every_case(make_suite, tmp_path):
    write_function(tmp_path, '''
        def answer(messages, case, params):
            return json.dumps({"label": pick(messages[-1]["content"])})
    ''')
    result = run(python_suite(make_suite), tmp_path / "run")
    assert sorted((r["case_id"], r["predicted_label"]) for r in rows(result.run_dir)) == [
        ("h1", "billing_dispute"), ("h2", "cancellation"), ("h3", "login_failure"), ("h4", "billing_dispute")]


def test_async_function_is_awaited(make_suite, tmp_path):
    write_function(tmp_path, '''
        import asyncio

        async def answer(messages, case, params):
            await asyncio.sleep(0)
            return {"output": {"label": pick(case["text"])}, "input_tokens": 7, "output_tokens": 2, "model": "mine-1"}
    ''')
    result = run(python_suite(make_suite), tmp_path / "run")
    first = next(r for r in rows(result.run_dir) if r["case_id"] == "h1")
    assert (json.loads(first["output"]), first["input_tokens"], first["output_tokens"], first["model"]) == \
        ({"label": "billing_dispute"}, 7, 2, "mine-1")


def test_function_receives_the_case_without_its_answer_and_the_route_params(make_suite, tmp_path):
    write_function(tmp_path, '''
        def answer(case, params):
            return json.dumps({"label": "cancellation", "seen": sorted(case), "flavour": params["flavour"]})
    ''')
    result = run(python_suite(make_suite, params={"flavour": "vanilla"}), tmp_path / "run")
    seen = json.loads(rows(result.run_dir)[0]["output"])
    assert seen["flavour"] == "vanilla" and "expected" not in seen["seen"] and "sources" not in seen["seen"]


def test_exception_becomes_an_error_row_with_its_message(make_suite, tmp_path):
    write_function(tmp_path, '''
        def answer(messages, case, params):
            raise RuntimeError("vector store unreachable")
    ''')
    result = run(python_suite(make_suite), tmp_path / "run", max_error_rate=1.0)
    error = rows(result.run_dir)[0]["error"]
    assert error["type"] == "RuntimeError" and error["message"].startswith("vector store unreachable (pipeline.py:")


def test_retrieved_ids_are_scored_against_the_gold_sources(make_suite, tmp_path):
    cases = TRAIN + [{**case, "sources": ["billing"]} for case in HOLDOUT]
    path = make_suite(cases, routes={"own": {"kind": "rag", "model": "python:pipeline.py:answer"}})
    write_function(tmp_path, '''
        def answer(messages, case, params):
            ranked = ["billing", "access"] if case["id"] in ("h1", "h2") else ["access", "billing"]
            return {"output": json.dumps({"label": pick(case["text"])}),
                    "retrieved": [{"id": doc, "score": 1.0 / (i + 1), "text": "..."} for i, doc in enumerate(ranked)]}
    ''')
    result = run(path, tmp_path / "run")
    assert result.summary["routes"]["own"]["retrieval"] == {"recall_at_k": 1.0, "mrr": 0.75, "k": 2, "n": 4}
    assert next(r for r in rows(result.run_dir) if r["case_id"] == "h1")["retrieved_scores"] == [1.0, 0.5]


def test_editing_the_source_file_changes_the_fingerprint_and_misses_the_cache(make_suite, tmp_path):
    path = python_suite(make_suite)
    write_function(tmp_path, '''
        def answer(messages, case, params):
            return json.dumps({"label": "cancellation"})
    ''')
    first = run(path, tmp_path / "first")
    again = run(path, tmp_path / "again")
    write_function(tmp_path, '''
        def answer(messages, case, params):
            return json.dumps({"label": "cancellation"})  # edited
    ''')
    edited = run(path, tmp_path / "edited")
    sha = [rows(r.run_dir)[0]["source_sha256"] for r in (first, again, edited)]
    assert (again.cache_hits, edited.cache_hits) == (4, 0)
    assert sha[0] == sha[1] != sha[2]


def test_offline_keeps_python_routes(make_suite, tmp_path):
    write_function(tmp_path, '''
        def answer(messages, case, params):
            return json.dumps({"label": "cancellation"})
    ''')
    result = run(python_suite(make_suite), tmp_path / "run", offline=True)
    assert result.manifest["routes"]["own"]["ran_as"] == "python:pipeline.py:answer"


def test_missing_file_is_bad_input(make_suite, capsys):
    code = main(["run", str(python_suite(make_suite, "python:nowhere.py:answer")), "--no-progress"])
    assert code == 2 and "python: file not found" in capsys.readouterr().err


def test_missing_function_is_bad_input_naming_the_nearest(make_suite, tmp_path, capsys):
    write_function(tmp_path, '''
        def answer(messages, case, params):
            return "x"
    ''')
    code = main(["run", str(python_suite(make_suite, "python:pipeline.py:answr")), "--no-progress"])
    assert code == 2 and "has no function 'answr' (did you mean 'answer'?)" in capsys.readouterr().err


def test_target_that_is_not_callable_is_bad_input(make_suite, tmp_path, capsys):
    write_function(tmp_path, '''
        answer = 42
    ''')
    code = main(["run", str(python_suite(make_suite)), "--no-progress"])
    assert code == 2 and "is a int, not a function" in capsys.readouterr().err


def test_module_target_is_imported(make_suite, tmp_path, monkeypatch):
    package = tmp_path / "ownpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_function(package, '''
        def answer(messages, case, params):
            return json.dumps({"label": pick(case["text"])})
    ''', name="triage.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run(python_suite(make_suite, "python:ownpkg.triage:answer"), tmp_path / "run")
    assert result.summary["routes"]["own"]["accuracy"]["value"] == 1.0


def test_unknown_provider_prefix_names_the_nearest(make_suite, capsys):
    code = main(["run", str(python_suite(make_suite, "pyton:pipeline.py:answer")), "--no-progress"])
    assert code == 2 and "unknown provider 'pyton' (did you mean 'python'?)" in capsys.readouterr().err
