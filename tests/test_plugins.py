"""One loader for every plugin registry: unknown names and missing packages are bad input that says what to do."""

from __future__ import annotations

import sys

import pytest

from evalkit import plugins
from evalkit.errors import BadInput
from evalkit.finetune.launchers import get_launcher_class
from evalkit.providers.base import get_provider_class

GROUP = "evalkit.test_plugins"


@pytest.fixture
def plugin_needing_a_missing_package(tmp_path, monkeypatch):
    (tmp_path / "needs_missing.py").write_text("import evalkit_no_such_package_xyz\n\nclass Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "needs_missing", raising=False)
    monkeypatch.setattr(plugins, "_installed", lambda group: {"thing": "needs_missing:Thing"} if group == GROUP else {})


def test_an_unknown_provider_names_the_nearest_one():
    with pytest.raises(BadInput, match=r"unknown provider 'opnai' \(did you mean 'openai'\?\)"):
        get_provider_class("opnai")


def test_an_unknown_launcher_lists_the_known_ones():
    with pytest.raises(
        BadInput, match="unknown fine-tuning provider 'nobody': expected one of openai, together, vertex"
    ):
        get_launcher_class("nobody")


def test_a_plugin_whose_package_is_missing_says_what_to_install(plugin_needing_a_missing_package):
    with pytest.raises(BadInput, match="thing 'thing' needs the package 'evalkit_no_such_package_xyz'.*pip install"):
        plugins.load(GROUP, "thing", what="thing")


def test_a_missing_package_an_extra_brings_names_the_extra():
    from importlib.metadata import PackageNotFoundError, requires

    try:
        requires(plugins.DISTRIBUTION)
    except PackageNotFoundError:
        pytest.skip("evalkit is not installed, so its extras are unknown")
    assert plugins.install_hint("boto3") == "pip install 'evalkit-harness[bedrock]'"
    assert plugins.extra_providing("google") == "google"
    assert plugins.extra_providing("evalkit_no_such_package_xyz") is None


def test_a_source_tree_never_installed_finds_its_built_ins_in_pyproject(monkeypatch):
    monkeypatch.setattr(plugins, "_installed", lambda group: {})
    assert get_provider_class("openai").__name__ == "OpenAIProvider"
