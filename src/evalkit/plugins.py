"""Plugins found by entry-point group: providers, fine-tune formats and fine-tuning launchers.

Each registry is an entry-point group (`evalkit.providers`, `evalkit.ft_formats`,
`evalkit.ft_launchers`) holding `name = "module:attribute"`; evalkit's own plugins are listed
in `pyproject.toml` like anyone's, and each registry passes its built-ins too, so a source
checkout that was never installed still finds them. `load` imports the one asked for: an
unknown name, or a plugin whose module needs a package that is not installed, is bad input that
says what to type (the nearest known name, or the extra to install).
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Mapping
from typing import Any

from evalkit.errors import BadInput

DISTRIBUTION = "evalkit-harness"


def _entry_points(group: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {entry.name: entry.value for entry in entry_points(group=group)}


def names(group: str, builtin: Mapping[str, str]) -> list[str]:
    """Every plugin name of the group, built-ins included, sorted."""
    return sorted(set(_entry_points(group)) | set(builtin))


def load(group: str, name: str, builtin: Mapping[str, str], *, what: str) -> Any:
    """The object registered as `name` in `group` (an installed plugin wins over a built-in)."""
    target = _entry_points(group).get(name) or builtin.get(name)
    if target is None:
        known = names(group, builtin)
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise BadInput(
            f"unknown {what} {name!r}{hint}: expected one of {', '.join(known)} "
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
