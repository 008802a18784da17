"""Formats and launchers are plugins: found through their entry-point groups like the built-ins."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import pytest

from evalkit import plugins
from evalkit.cli import main
from evalkit.finetune import formats as formats_module
from evalkit.finetune import launchers as launchers_module
from evalkit.finetune.formats import Format, Problem, TrainingExample, format_names, get_format
from evalkit.finetune.launchers import get_launcher_class


class AlpacaFormat(Format):
    """A third-party format: {instruction, output}."""

    name = "alpaca"

    def render(self, example: TrainingExample) -> dict:
        return {"instruction": example.prompt[-1]["content"], "output": example.completion}

    def check(self, record) -> list[Problem]:
        return [] if isinstance(record, dict) and record.get("output") else [Problem("missing_content", "no output")]

    def messages(self, record) -> list[dict]:
        return [{"role": "user", "content": record["instruction"]}, {"role": "assistant", "content": record["output"]}]


@pytest.fixture
def alpaca_plugin(monkeypatch):
    real = plugins._installed
    extra = {"alpaca": f"{__name__}:AlpacaFormat"}
    group_of_formats = formats_module.ENTRY_POINT_GROUP
    monkeypatch.setattr(
        plugins, "_installed", lambda group: {**real(group), **(extra if group == group_of_formats else {})}
    )


def test_the_built_in_formats_are_registered_under_the_entry_point_group():
    from importlib.metadata import entry_points

    registered = {e.name for e in entry_points(group=formats_module.ENTRY_POINT_GROUP)}
    if not registered:
        pytest.skip("the package was installed before the entry points existed: reinstall it (pip install -e .)")
    assert {"openai-chat", "openai-dpo", "hf-chat", "vertex-gemini"} <= registered


def test_the_built_ins_resolve_without_an_installed_package(monkeypatch):
    monkeypatch.setattr(plugins, "_installed", lambda group: {})
    assert get_format("vertex-gemini").name == "vertex-gemini"


def test_a_plugin_format_is_found_by_name(alpaca_plugin):
    assert "alpaca" in format_names() and isinstance(get_format("alpaca"), AlpacaFormat)


def test_validate_uses_a_plugin_format(alpaca_plugin, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"instruction": "hi", "output": "yo"}) + "\n" + json.dumps({"instruction": "x"}) + "\n")
    assert main(["ft", "validate", str(path), "--format", "alpaca"]) == 1


def test_export_uses_a_plugin_format(alpaca_plugin, make_suite, tmp_path):
    suite = make_suite(routes={"tuned": {"kind": "finetuned", "model": "mock:expected"}})
    assert main(["ft", "export", str(suite), "--out", str(tmp_path / "a.jsonl"), "--format", "alpaca"]) == 0
    first = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert first == {"instruction": "you billed me two times this month", "output": '{"label": "billing_dispute"}'}


def test_a_plugin_launcher_is_found_by_name(monkeypatch):
    from importlib.metadata import entry_points as real

    entry = EntryPoint(
        "vllm-lab", "evalkit.finetune.launchers.together:TogetherLauncher", launchers_module.ENTRY_POINT_GROUP
    )

    def fake(group=None):
        found = list(real(group=group))
        return [*found, entry] if group == launchers_module.ENTRY_POINT_GROUP else found

    monkeypatch.setattr("importlib.metadata.entry_points", fake)
    assert get_launcher_class("vllm-lab").__name__ == "TogetherLauncher"
