"""The run manifest: what a run was (the suite, each route and the model it ran as, the
options, the git state, the evalkit version) as written when it starts, and the model ids the
servers reported, recorded when it ends.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit import __version__
from evalkit.providers.base import Provider, split_model
from evalkit.suite import LoadedSuite

if TYPE_CHECKING:
    from evalkit.runner import RunOptions


#: what a route's YAML says about its model's origin, copied into the manifest (the packet shows it)
FINETUNE_FIELDS = {"base_model", "job_id", "training_file_sha256", "provider", "base_url", "trained_tokens",
                   "training_cost_usd", "hosting_usd_per_hour"}


def git_state(folder: Path) -> dict[str, Any]:
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    return {"commit": commit, "dirty": bool(git("status", "--porcelain")) if commit else None}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_manifest(
    suite: LoadedSuite, providers: dict[str, Provider], options: RunOptions, run_id: str
) -> dict[str, Any]:
    from evalkit.providers.sdk import public_url

    routes = {}
    for name, provider in providers.items():
        route = suite.spec.routes[name]
        prefix = split_model(route.model)[0]
        info = {"kind": route.kind, "model": route.model,
                "ran_as": provider.ref,
                **{k: v for k, v in route.model_dump(include=FINETUNE_FIELDS).items() if v},
                **provider.model_info()}
        info["provider"] = info.get("provider", prefix)
        info["endpoint"] = provider.endpoint()
        if provider.retrieves_itself:
            info["retrieves_itself"] = True  # its retrieval is scored as the route's own pipeline
        if info.get("base_url"):
            info["base_url"] = public_url(info["base_url"])
        routes[name] = info
    spec = suite.spec.model_dump(mode="json")
    for route in spec.get("routes", {}).values():
        if route.get("base_url"):
            route["base_url"] = public_url(route["base_url"])
        if (route.get("http") or {}).get("headers"):  # a ${VAR} reference stays; a value written inline does not
            from evalkit.providers.http import redacted_headers

            route["http"]["headers"] = redacted_headers(route["http"]["headers"])
    return {
        "run_id": run_id,
        "status": "running",
        "suite": {"name": suite.name, "path": str(suite.path), "sha256": suite.sha256,
                  "spec": spec, "output_schema": suite.output_schema},
        "cases_sha256": suite.cases_sha256,
        "evalkit_version": __version__,
        "git": git_state(suite.folder),
        "started_at": now_iso(),
        "ended_at": None,
        "offline": options.offline,
        "replay": str(Path(options.replay).resolve()) if options.replay else None,
        "repeats": options.repeats,
        "concurrency": options.concurrency,
        "attempts": options.attempts,
        "timeout_s": options.timeout_s,
        "rate_limits_rpm": dict(options.rpm) or None,
        "rate_limits_tpm": dict(getattr(options, "tpm", None) or {}) or None,
        "routes": routes,
        "warnings": [],
    }


def reported_models(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per route, the model ids the servers reported, most frequent first."""
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        if row.get("model"):
            counts.setdefault(row["route"], Counter())[row["model"]] += 1
    return {route: [m for m, _ in c.most_common()] for route, c in counts.items()}
