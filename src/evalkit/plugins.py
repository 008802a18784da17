"""Plugins found by entry-point group: providers, fine-tune formats and fine-tuning launchers.

Each registry is an entry-point group (`evalkit.providers`, `evalkit.ft_formats`,
`evalkit.ft_launchers`) holding `name = "module:attribute"`. evalkit's own plugins are declared
in `pyproject.toml` like anyone's and nowhere else: a source checkout that was never installed
reads them from that file. `load` imports the one asked for: an unknown name, or a plugin whose
module needs a package that is not installed, is bad input that says what to type (the nearest
known name, or the extra to install).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import re
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

DISTRIBUTION = "evalkit-harness"


def _installed(group: str) -> dict[str, str]:
    """The group's entry points of every installed distribution."""
    from importlib.metadata import entry_points

    return {entry.name: entry.value for entry in entry_points(group=group)}


@functools.cache
def _source_tree() -> dict[str, dict[str, str]]:
    """The entry points `pyproject.toml` declares, when evalkit runs from its source tree."""
    try:
        tomllib = importlib.import_module("tomllib")
    except ImportError:  # before Python 3.11: an installed evalkit has its entry points anyway
        return {}
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):  # not a source tree
        return {}
    if project.get("name") != DISTRIBUTION:
        return {}
    return {group: dict(points) for group, points in (project.get("entry-points") or {}).items()}


def registered(group: str) -> dict[str, str]:
    """Name -> "module:attribute" of every plugin of the group (an installed one wins)."""
    return {**_source_tree().get(group, {}), **_installed(group)}


def names(group: str) -> list[str]:
    """Every plugin name of the group, sorted."""
    return sorted(registered(group))


def load(group: str, name: str, *, what: str) -> Any:
    """The object registered as `name` in `group`."""
    known = registered(group)
    target = known.get(name)
    if target is None:
        near = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise BadInput(
            f"unknown {what} {name!r}{hint}: expected one of {', '.join(sorted(known))} "
            f"(or a plugin in the {group} entry-point group)"
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if not missing or module_name == error.name or module_name.startswith(f"{error.name}."):
            raise  # the plugin's own module is missing: a packaging bug, not the user's
        hint = install_hint(missing)
        raise BadInput(f"{what} {name!r} needs the package {missing!r}, which is not installed: {hint}") from None
    return getattr(module, attribute)


def install_hint(module: str) -> str:
    """What to install to get `module`: evalkit's extra that brings it, or the package itself."""
    extra = extra_providing(module)
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {module}"


def extra_providing(module: str) -> str | None:
    """The evalkit extra whose requirements include the package that provides top-level `module`."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        requirements = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return None
    wanted = module.lower().replace("-", "_")
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9._-]+).*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if match and match.group(2) != "dev":
            package = match.group(1).lower().replace("-", "_")
            if package == wanted or package.startswith(f"{wanted}_"):
                return match.group(2)
    return None
