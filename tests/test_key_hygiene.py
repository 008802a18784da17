"""A key with a trailing control character stops the run before any call; a key never reaches
disk in any escaped form (repr, JSON, percent-encoding)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from evalkit.cli import main
from evalkit.secrets import Scrubber
from evalkit.testing.stub_server import StubServer, fail
from stub_helpers import gold, isolate, model_calls, openai_route, rows, run, write_suite

SPECIAL_KEY = "sk-test/KEY+with'quote\"9f3a1c77"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.mark.parametrize("tail", ["\r", "\n", "\r\n"])
def test_key_with_a_trailing_control_character_exits_2_naming_the_variable(tmp_path, monkeypatch, capsys, tail):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET-value-123" + tail)
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=2)
        code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
        sent = model_calls(stub)
    err = capsys.readouterr().err
    assert code == 2 and not sent
    assert "OPENAI_API_KEY" in err and "control character" in err
    assert "sk-SECRET" not in err


@pytest.mark.parametrize("form", [
    SPECIAL_KEY,
    repr(SPECIAL_KEY)[1:-1],
    json.dumps(SPECIAL_KEY)[1:-1],
    quote(SPECIAL_KEY, safe=""),
    quote(SPECIAL_KEY),
    repr(SPECIAL_KEY.encode()),
])
def test_scrubber_removes_the_key_in_every_escaped_form(form):
    scrubber = Scrubber()
    scrubber.add(SPECIAL_KEY)
    assert "KEY" not in scrubber.scrub(f"header was {form}, rejected")


def test_scrubber_removes_a_json_escaped_key_from_a_serialised_line():
    scrubber = Scrubber()
    scrubber.add(SPECIAL_KEY)
    line = json.dumps({"error": {"message": f"bad header {SPECIAL_KEY!r}"}})
    assert "KEY+with" not in scrubber.scrub(line)
    assert json.loads(scrubber.scrub(line))["error"]["message"].startswith("bad header")


def test_percent_encoded_key_quoted_by_a_server_never_reaches_the_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SPECIAL_KEY)
    echo = lambda n, kind, body: fail(401, f"bad key {quote(SPECIAL_KEY, safe='')}") if body else None  # noqa: E731
    with StubServer(fail_script=echo) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    assert rows(result.run_dir)[0]["error"]["type"] == "authentication"
    for path in result.run_dir.iterdir():
        assert "KEY%2Bwith" not in path.read_text(encoding="utf-8"), path
