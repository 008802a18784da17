"""When a route's model shuts down, and whether the run should warn about it.

The provider's own answer wins (OpenAI's models endpoint carries an optional
`shutdown_date`); otherwise the shipped table `retirements.yaml` of announced dates.
A fine-tuned OpenAI model (`ft:BASE:org::id`) inherits BASE's schedule. Everything
here is a pure function of its arguments, except reading the shipped table.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

#: warn when a route's model shuts down within this many days of the run
WARN_DAYS = 90

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{8}$|-latest$")


def base_model(name: str) -> str:
    """`ft:gpt-4.1-mini-2025-04-14:org::id` -> `gpt-4.1-mini-2025-04-14`; other names unchanged."""
    if name.startswith("ft:"):
        parts = name.split(":")
        if len(parts) > 1 and parts[1]:
            return parts[1]
    return name


def _keys(provider: str, name: str) -> list[str]:
    base = base_model(name)
    keys = [f"{provider}:{name}", f"{provider}:{base}"]
    if _SNAPSHOT.search(base):
        keys.append(f"{provider}:{_SNAPSHOT.sub('', base)}")
    return list(dict.fromkeys(keys))


@lru_cache(maxsize=1)
def known_shutdowns() -> dict[str, str]:
    import yaml

    from evalkit.yamlfile import safe_loader

    data = (
        yaml.load((Path(__file__).parent / "retirements.yaml").read_text(encoding="utf-8"), Loader=safe_loader()) or {}
    )
    return {str(model): str(day) for model, day in data.items()}


def known_shutdown(provider: str, name: str) -> str | None:
    """The announced shutdown date (ISO) of `PROVIDER:NAME` from the shipped table, or None."""
    table = known_shutdowns()
    return next((table[key] for key in _keys(provider, name) if key in table), None)


def _parse(day: Any) -> date | None:
    if day is None or day == "":
        return None
    if isinstance(day, date):
        return day
    text = str(day).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    if text.isdigit():  # a Unix timestamp
        from datetime import datetime, timezone

        return datetime.fromtimestamp(int(text), tz=timezone.utc).date()
    return None


def schedule(provider: str, name: str, reported: Any, today: date, *, route: str | None = None) -> dict[str, Any]:
    """What the manifest records about a route's model retirement.

    `reported` is the provider's shutdown date (None when it said nothing or could not
    be asked). Returns `shutdown_date` (ISO or None), `shutdown_source` ("provider",
    "evalkit table" or None) and `retirement_warning` (text or None).
    """
    day, source = _parse(reported), "provider"
    if day is None:
        day, source = _parse(known_shutdown(provider, name)), "evalkit table"
    if day is None:
        return {"shutdown_date": None, "shutdown_source": None, "retirement_warning": None}
    return {"shutdown_date": day.isoformat(), "shutdown_source": source,
            "retirement_warning": warning(provider, name, day, today, route=route)}


def warning(provider: str, name: str, day: date, today: date, *, route: str | None = None) -> str | None:
    """A warning when `day` is within WARN_DAYS of `today` (or already past), else None."""
    left = (day - today).days
    if left > WARN_DAYS:
        return None
    who = f"route {route!r} ({provider}:{name})" if route else f"{provider}:{name}"
    inherited = f" with its base model {base_model(name)}" if name.startswith("ft:") else ""
    if left < 0:
        return f"{who} was shut down on {day.isoformat()}{inherited}, {-left} days ago: its calls will fail"
    when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
    return (f"{who} shuts down on {day.isoformat()}, {when}{inherited}: "
            f"results for it stop being reproducible then; plan the migration before approving it")
