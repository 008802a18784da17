"""The command line: version, schema, help."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import yaml

from evalkit.cli import main


def test_version_does_not_import_heavy_libraries():
    code = (
        "import sys\nfrom evalkit.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'openai', 'anthropic', 'matplotlib', 'scipy', 'pydantic')\n"
        "         if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


def test_evalkit_run_loads_only_its_own_command_module_and_the_others_still_have_theirs():
    code = (
        "import sys\nfrom evalkit.cli import build_parser\n"
        "build_parser(sys.argv[1] if len(sys.argv) > 1 else None)\n"
        "print(sorted(m for m in sys.modules if m.startswith('evalkit.commands.')))"
    )

    def loaded(*command):
        done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().replace("'", '"'))

    assert loaded("run") == ["evalkit.commands.run"]
    assert len(loaded("score")) > 1 and "evalkit.commands.score" in loaded("score")
    assert len(loaded()) > 1


def test_schema_prints_a_json_schema_that_accepts_the_example_suite(capsys):
    from conftest import REPO

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    suite = yaml.safe_load((REPO / "evals" / "support_triage.yaml").read_text())
    jsonschema.validate(suite, schema)


def test_schema_rejects_unknown_keys(capsys):
    main(["schema"])
    schema = json.loads(capsys.readouterr().out)
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"name": "x", "task": {"labels": ["a", "b"]}, "cases": "c.jsonl",
                                   "routes": {}, "bogus": 1})


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "run" in capsys.readouterr().out


def test_the_schema_the_example_suite_points_editors_at_is_the_current_one(capsys):
    from conftest import REPO

    suite_file = REPO / "evals" / "support_triage.yaml"
    first_line = suite_file.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=suite.schema.json"
    main(["schema"])
    shipped = json.loads((suite_file.parent / "suite.schema.json").read_text(encoding="utf-8"))
    assert shipped == json.loads(capsys.readouterr().out), "regenerate it: evalkit schema > evals/suite.schema.json"


def test_the_public_api_names_every_stage_of_the_flow():
    import evalkit
    import evalkit.compare  # noqa: F401 - once the submodule is loaded, the API name must still be the function

    for name in ("load_suite", "run_suite", "load_run", "summarize", "compare_routes", "evaluate_gate", "make_packet",
                 "write_packet", "results_frame"):
        assert callable(getattr(evalkit, name)), name


def test_help_texts_print_percent_signs_once(capsys):
    import pytest as _pytest

    with _pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert "95% intervals" in out and "%%" not in out
