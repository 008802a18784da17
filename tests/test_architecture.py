"""The layout's rules, checked: import contracts, the public API, and the registered providers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import evalkit
from conftest import REPO


def test_the_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_public_api_is_pinned():
    assert sorted(evalkit.__all__) == sorted([
        "__version__", "load_suite", "run_suite", "RunOptions", "render_requests", "record_run", "score_run",
        "load_run", "results_frame", "metrics_frame", "summarize", "compare_routes", "evaluate_gate", "load_policy",
        "make_packet", "write_packet"])
    for name in evalkit.__all__:
        assert getattr(evalkit, name) is not None


def test_the_built_in_providers_are_the_entry_points_pyproject_declares():
    from evalkit.plugins import _installed

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["evalkit.providers"]
    modules = {path.stem for path in (REPO / "src/evalkit/providers").glob("*.py")} - {"__init__", "base", "sdk"}
    assert {target.split(":")[0].rsplit(".", 1)[1] for target in declared.values()} == modules
    assert _installed("evalkit.providers") == declared


def test_no_module_cites_a_document_outside_the_repository():
    cited = [
        str(p.relative_to(REPO)) for p in (REPO / "src").rglob("*.py") if "DESIGN" in p.read_text(encoding="utf-8")
    ]
    assert cited == []
