"""Start a fine-tuning job and follow it to the end.

`launch_job` validates the file (no upload of a file with format errors), uploads it, creates the
job, and keeps a small record of what was launched (provider, job id, base model, file and its
SHA-256, the suite and route to update) in `$EVALKIT_HOME/ft_jobs/` (default `.evalkit/`), so
that `status` can write the finished model into the suite. The record holds no key.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.finetune.launchers import JobEvent, JobRequest, JobState, Launcher, get_launcher_class


@dataclass
class JobRecord:
    """What was launched, for `status` to finish the job's paperwork."""

    provider: str
    job_id: str
    base_model: str
    training_file: str
    training_file_sha256: str
    format: str
    validation_file: str | None = None
    suite: str | None = None
    route: str | None = None
    base_url: str | None = None


def jobs_dir() -> Path:
    return Path(os.environ.get("EVALKIT_HOME") or ".evalkit") / "ft_jobs"


def record_path(provider: str, job_id: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in job_id)
    return jobs_dir() / f"{provider}-{safe}.json"


def save_record(record: JobRecord) -> Path:
    path = record_path(record.provider, record.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    return path


def load_record(provider: str, job_id: str) -> JobRecord | None:
    path = record_path(provider, job_id)
    if not path.is_file():
        return None
    return JobRecord(**json.loads(path.read_text(encoding="utf-8")))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _checked(path: Path, fmt: str | None, launcher: type[Launcher], what: str) -> str:
    """Validate a file before it is uploaded; return its format's name."""
    from evalkit.finetune.validate import validate_file

    report = validate_file(path, fmt)
    if not report.ok:
        first = report.errors[0]
        raise BadInput(
            f"the {what} has {len(report.errors)} format error(s), first at line {first.line}: {first.message}; "
            f"see `evalkit ft validate {path}`",
            where=str(path),
        )
    if report.format not in launcher.accepts:
        raise BadInput(
            f"{launcher.name} does not take {report.format} files (it takes {', '.join(launcher.accepts)})",
            where=str(path),
        )
    return report.format


def launch_job(
    path: str | Path,
    provider: str,
    model: str,
    *,
    suffix: str | None = None,
    epochs: int | None = None,
    validation: str | Path | None = None,
    fmt: str | None = None,
    lora: bool = True,
    base_url: str | None = None,
    suite: str | Path | None = None,
    route: str | None = None,
    bucket: str | None = None,
    training_uri: str | None = None,
    validation_uri: str | None = None,
    method: str | None = None,
    grader: str | Path | None = None,
) -> tuple[JobState, JobRecord]:
    """Upload the training (and validation) file and create the job; keep a record of it.
    `bucket`, `training_uri` and `validation_uri`: where providers that read from object
    storage (vertex) find the files. `method` must agree with the file's format; a reinforcement
    job sends `grader` (a grader JSON file), else the grader built from `suite`."""
    from evalkit.finetune.formats import get_format

    path = Path(path)
    if epochs is not None and epochs < 1:
        raise BadInput(f"--epochs must be at least 1, got {epochs}")
    launcher_class = get_launcher_class(provider)
    if (bucket or training_uri or validation_uri) and not launcher_class.reads_object_storage:
        raise BadInput(f"--bucket, --training-uri and --validation-uri go with --provider vertex, not {provider}")
    format_name = _checked(path, fmt, launcher_class, "training file")
    if validation is not None:
        _checked(Path(validation), format_name, launcher_class, "validation file")
    format_ = get_format(format_name)
    if method is not None and method != format_.method:
        raise BadInput(
            f"--method {method} does not train on a {format_name} file (it trains by {format_.method})", where=str(path)
        )
    loaded = None
    if suite is not None:
        from evalkit.finetune.export import pick_route
        from evalkit.suite import load_suite

        loaded = load_suite(suite)
        route = pick_route(loaded, route)
    job_grader = _job_grader(format_, grader, loaded, path, validation)
    launcher = launcher_class(base_url)
    try:
        if bucket or training_uri or validation_uri:
            uris = {
                str(path): training_uri,
                **({str(Path(validation)): validation_uri} if validation is not None else {}),
            }
            launcher.configure_storage(bucket=bucket, uris=uris)
        training_id = launcher.upload(path)
        validation_id = launcher.upload(Path(validation)) if validation is not None else None
        state = launcher.create(JobRequest(model=model, training_file_id=training_id, validation_file_id=validation_id,
                                           suffix=suffix, epochs=epochs, method=format_.method, lora=lora,
                                           grader=job_grader))
    finally:
        launcher.close()
    record = JobRecord(provider=provider, job_id=state.id, base_model=model, training_file=str(path),
                       training_file_sha256=file_sha256(path), format=format_name,
                       validation_file=str(validation) if validation else None,
                       suite=str(suite) if suite else None, route=route, base_url=base_url)
    save_record(record)
    return state, record


def _job_grader(format_, grader: str | Path | None, suite, path: Path, validation) -> dict | None:
    """The grader a reinforcement job sends: the given file's, else the suite's; None for other methods."""
    if format_.method != "reinforcement":
        if grader is not None:
            raise BadInput(f"--grader goes with reinforcement fine-tuning, not a {format_.name} file", where=str(path))
        return None
    if format_.needs_validation and validation is None:
        raise BadInput(
            "reinforcement fine-tuning needs a validation file: pass --validation VALID.jsonl", where=str(path)
        )
    from evalkit.finetune.rft import build_grader, grader_reference_keys, load_grader, reward_plan

    if grader is not None:
        job_grader = load_grader(grader)
    elif suite is not None:
        job_grader = build_grader(reward_plan(suite))
    else:
        raise BadInput("reinforcement fine-tuning needs a grader: pass --grader GRADER.json (evalkit ft export "
                       "--grader-out) or --suite", where=str(path))
    from evalkit.finetune.validate import read_records

    for file in [path, *([Path(validation)] if validation is not None else [])]:
        for line, record in read_records(file):
            missing = sorted(
                k for k in grader_reference_keys(job_grader) if isinstance(record, dict) and k not in record
            )
            if missing:
                raise BadInput(
                    f"line {line} has no reference field {missing[0]!r}, which the grader reads", where=str(file)
                )
    return job_grader


def follow_job(provider: str, job_id: str, *, wait: bool = False, interval: float = 30.0, timeout: float | None = None,
               base_url: str | None = None, on_event: Callable[[JobEvent], None] = lambda e: None) -> JobState:
    """Report the job (and its new events); with `wait`, poll until it ends or `timeout` seconds pass."""
    launcher = get_launcher_class(provider)(base_url)
    seen: set[str] = set()
    started = time.monotonic()
    try:
        while True:
            state = launcher.retrieve(job_id)
            for event in launcher.events(job_id):
                if event.id not in seen:
                    seen.add(event.id)
                    on_event(event)
            if state.done or not wait or (timeout is not None and time.monotonic() - started >= timeout):
                return state
            time.sleep(interval)
    finally:
        launcher.close()


def route_fields(provider: str, state: JobState, record: JobRecord | None, base_url: str | None = None,
                 training_file: str | Path | None = None, prices=None) -> dict[str, str | int | float]:
    """The fields of the suite's fine-tuned route for a finished job; `prices` are the suite's
    overrides of the price table (for the training cost)."""
    launcher_class = get_launcher_class(provider)
    base_url = launcher_class.resolve_base_url(base_url or (record.base_url if record else None))
    fields: dict[str, Any] = dict(launcher_class.route_fields(state, base_url))
    fields.update({"base_model": (record.base_model if record else None) or state.base_model, "job_id": state.id,
                   "provider": provider})
    sha = file_sha256(training_file) if training_file else (record.training_file_sha256 if record else None)
    if sha:
        fields["training_file_sha256"] = sha
    fields.update(training_cost(getattr(launcher_class, "price_provider", None) or provider, fields["base_model"],
                                state.trained_tokens, prices))
    return {k: v for k, v in fields.items() if v is not None}


def training_cost(provider: str, base_model: str, trained_tokens: int | None, prices=None) -> dict[str, int | float]:
    """`trained_tokens` as the provider reported them, and `training_cost_usd` (those tokens at
    the training price of `prices`, else of the shipped table) when there is one: an unknown
    price is left out."""
    from evalkit.finetune.estimate import training_price

    if not trained_tokens:
        return {}
    price = training_price(f"{provider}:{base_model}", prices)
    if price is None:
        return {"trained_tokens": trained_tokens}
    return {"trained_tokens": trained_tokens, "training_cost_usd": round(trained_tokens * price / 1_000_000, 6)}
