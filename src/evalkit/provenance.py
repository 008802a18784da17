"""Where an answer came from, strongest first, and what a route's evidence is worth.

* `live`: the configured provider answered this request;
* `cache`: an identical earlier live request answered it (the response cache);
* `recorded`: a recording whose request fingerprint equals this request's, answered live;
* `unverified`: a recording line without a fingerprint: it may be real, it cannot be checked;
* `stand-in`: an offline stand-in (`local:`), a script (`mock:`), or a recording of their answers;
* `stale`: a recording made for another request; the row names the parts that differ.

A route's provenance is the weakest of its answered rows. An error row carries the provenance of
the call that failed and does not weaken its route. Only `live`, `cache` and `recorded` are
evidence about the configured model; the gate approves on nothing else.

Pure functions of rows: every stage after the run reads provenance from the run directory alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from evalkit.fingerprint import changed_parts

ORDER = ("live", "cache", "recorded", "unverified", "stand-in", "stale")
EVIDENCE = frozenset({"live", "cache", "recorded"})
_RANK = {name: i for i, name in enumerate(ORDER)}

MEANING = {
    "live": "the configured provider answered",
    "cache": "answered from the response cache of an identical live request",
    "recorded": "a verified recording of live answers to the same requests",
    "unverified": "a recording without request fingerprints: it cannot be checked",
    "stand-in": "answered by a stand-in, not the configured model",
    "stale": "a recording made for a different request",
}


def weakest(names: list[str]) -> str | None:
    return max(names, key=lambda name: _RANK.get(name, len(ORDER))) if names else None


def is_evidence(provenance: str | None) -> bool:
    return provenance in EVIDENCE


def of_recording(line: dict[str, Any], current_parts: dict[str, str], current_sha256: str) -> tuple[str, list[str]]:
    """(provenance, stale parts) of an answer taken from a recording line, given the request
    the run would send now. The recording's own provenance bounds what it can be: a recording of
    stand-in answers is never evidence, whatever its fingerprint."""
    recorded_sha = line.get("request_sha256")
    if not recorded_sha:
        return "unverified", []
    if recorded_sha != current_sha256:
        return "stale", changed_parts(line.get("request_parts"), current_parts)
    origin = line.get("provenance")
    if origin in EVIDENCE:
        return "recorded", []
    if origin == "stale":
        return "stale", list(line.get("stale_parts") or ["request"])
    if origin == "stand-in":
        return "stand-in", []
    return "unverified", []


def of_row(row: dict[str, Any], legacy: str = "live") -> str:
    """A row's provenance; rows written before provenance was recorded get `legacy` (what their
    route ran as says: live, a stand-in or an unverified recording), or `cache` when cached."""
    found = row.get("provenance")
    if found:
        return str(found)
    return "cache" if row.get("cached") and legacy == "live" else legacy


def legacy_provenance(ran_as: str | None) -> str:
    """What a row without a recorded provenance can be taken for, from what its route ran as."""
    prefix = str(ran_as or "").partition(":")[0]
    return {"local": "stand-in", "mock": "stand-in", "replay": "unverified"}.get(prefix, "live")


def route_provenance(
    rows: list[dict[str, Any]], *, legacy: str = "live", endpoint: str | None = None
) -> dict[str, Any]:
    """{provenance, evidence, counts, stale_parts, endpoint} of one route's rows. The provenance
    is the weakest of the answered rows (None when no row has an answer)."""
    answered = Counter(of_row(r, legacy) for r in rows if not r.get("error"))
    stale_parts: set[str] = set()
    for row in rows:
        if not row.get("error") and of_row(row, legacy) == "stale":
            stale_parts.update(row.get("stale_parts") or ["request"])
    provenance = weakest(list(answered))
    return {
        "provenance": provenance,
        "evidence": is_evidence(provenance),
        "counts": {name: answered[name] for name in ORDER if answered[name]},
        "stale_parts": _part_order(stale_parts),
        "endpoint": endpoint,
    }


def _part_order(parts: set[str]) -> list[str]:
    from evalkit.fingerprint import PARTS

    return [p for p in (*PARTS, "request") if p in parts]


def describe(info: dict[str, Any]) -> str:
    """One phrase for a route's provenance: `live (https://...)`, `stale: system, model changed`."""
    provenance = info.get("provenance") or "no answers"
    text = provenance
    if provenance == "stale" and info.get("stale_parts"):
        text += f" ({', '.join(info['stale_parts'])} changed)"
    mixed = [f"{count} {name}" for name, count in (info.get("counts") or {}).items()]
    if len(mixed) > 1:
        text += f" [{', '.join(mixed)}]"
    if info.get("endpoint"):
        text += f" via {info['endpoint']}"
    return text


def run_provenance(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per route of a stored run: `route_provenance` of its rows, with the endpoint it used."""
    by_route: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_route.setdefault(row["route"], []).append(row)
    return {
        route: provenance_of_route(manifest, route, by_route.get(route, [])) for route in manifest.get("routes") or {}
    }


@dataclass(frozen=True)
class RouteModels:
    """What a run's manifest says about a route's model, four keys read one way everywhere:

    * `configured` (`model`): the PROVIDER:MODEL the suite asks for;
    * `ran_as` (`ran_as`): the PROVIDER:MODEL evalkit called, which differs under `--offline`
      (a stand-in) and `--replay` (a recording); a manifest from before it existed: `model`;
    * `resolved` (`resolved_model`): the provider's own name for what it called, where it has one
      (a stand-in's, a recording's);
    * `reported` (`reported_model`): the model id(s) the server put in its answers, from the rows.
    """

    configured: str | None
    ran_as: str | None
    resolved: str | None
    reported: str | list[str] | None


def route_models(info: dict[str, Any]) -> RouteModels:
    """The model keys of a manifest's route entry."""
    return RouteModels(
        configured=info.get("model"),
        ran_as=info.get("ran_as") or info.get("model"),
        resolved=info.get("resolved_model"),
        reported=info.get("reported_model"),
    )


def provenance_of_route(manifest: dict[str, Any], route: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`route_provenance` of one route's rows, with the endpoint it used (a replayed route: the
    endpoints its recording was made against)."""
    info = (manifest.get("routes") or {}).get(route, {})
    legacy = legacy_provenance(route_models(info).ran_as)
    recorded_at = sorted({r["endpoint"] for r in rows if r.get("endpoint")})
    endpoint = info.get("endpoint") or (", ".join(recorded_at) if recorded_at else None)
    return route_provenance(rows, legacy=legacy, endpoint=endpoint)
