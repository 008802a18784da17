"""docs/cli.md is the command line's own description: a stale page fails here."""

from __future__ import annotations

from conftest import REPO
from evalkit.clidocs import cli_markdown


def test_the_cli_page_matches_the_parsers():
    shipped = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert shipped == cli_markdown(), "renew it: python -m evalkit.clidocs > docs/cli.md"


def test_the_cli_page_has_a_section_for_every_command():
    page = cli_markdown()
    for command in ("run", "score", "schema", "compare", "gate", "packet", "import", "batch status",
                    "ft split", "ft export", "ft validate", "ft estimate", "ft leakage", "ft launch", "ft status"):
        assert f"## `evalkit {command}`" in page
