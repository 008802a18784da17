"""A starter suite for cases just imported (`evalkit import ... --suite FILE`).

It runs as written (`evalkit run FILE --offline` with no key, or against the model once its key
is set): a base route that asks for one label of the set, a prompted route with few-shot
examples when the cases include a train split, and comments on what to fill in next (the owner,
the fine-tuned route, the gate). A suggested suite an importer built from the source (OpenAI
hosted Evals) gives the task and routes instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "openai:gpt-4.1-mini"
SYSTEM = (
    "Classify the message into exactly one of these labels: {{ labels | join(', ') }}.\nAnswer with the label only.\n"
)


def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line text (prompts) as YAML literal blocks, the way people write them."""

    Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))
    return Dumper


def _prompt_for(cases: list) -> str | None:
    """The user prompt: each named field of an object input on a line of its own; None (the
    input as it is) for text and chat inputs."""
    first = cases[0].input if cases else None
    if isinstance(first, dict) and len(first) == 1:
        return f"{{{{ {next(iter(first))} }}}}"
    if isinstance(first, dict):
        return "\n".join(f"{name}: {{{{ {name} }}}}" for name in first)
    return None


def _routes(cases: list, has_train: bool) -> dict[str, Any]:
    prompt = _prompt_for(cases)
    base: dict[str, Any] = {"kind": "base", "model": DEFAULT_MODEL, "system": SYSTEM}
    if prompt:
        base["prompt"] = prompt
    routes = {"base": base}
    if has_train:
        routes["prompted"] = {**base, "kind": "prompted", "examples": {"k": 8, "strategy": "similar"}}
    return routes


def starter_suite(name: str, suite_path: Path, cases_path: Path, cases: list, labels: list[str],
                  suggested: dict[str, Any] | None = None) -> str:
    """The text of a suite file at `suite_path` that reads `cases_path`, with comments."""
    import yaml

    has_train = any(case.split == "train" for case in cases)
    spec: dict[str, Any] = {"name": name}
    if suggested is not None:
        spec.update(task=suggested["task"], routes=suggested["routes"])
    else:
        spec.update(task={"labels": list(labels), "output_format": "text"}, routes=_routes(cases, has_train))
    spec["cases"] = Path(os.path.relpath(cases_path.resolve(), suite_path.resolve().parent)).as_posix()
    spec["defaults"] = {"temperature": 0, "max_tokens": 50}
    body = {key: spec[key] for key in ("name", "task", "cases", "defaults", "routes")}
    from evalkit.suite import confinement_root

    if not cases_path.resolve().is_relative_to(confinement_root(suite_path.resolve().parent)):
        # the user named both files on the command line: a suite evalkit writes for them may read there
        body["allow_outside_paths"] = True
    lines = [
        f"# A starter suite for the cases imported into {spec['cases']}: check the labels, the prompt and the",
        "# model, then run it:",
        f"#   evalkit run {suite_path.as_posix()} --offline   # no key: local stand-ins",
        f"#   evalkit run {suite_path.as_posix()}             # the model (set OPENAI_API_KEY)",
        "# owner: who retrains and answers for the model (shown in the stakeholder packet)",
        "",
        yaml.dump(body, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100).rstrip(),
        "",
    ]
    if "prompted" not in spec["routes"] and suggested is None:
        lines.append(
            "# A prompted route (few-shot examples) needs train cases: `evalkit ft split CASES --holdout 0.2`."
        )
    lines += [
        "# The fine-tuned route: `evalkit ft export` the train split, `evalkit ft launch`, then add",
        "#   tuned: {kind: finetuned, model: PROVIDER:MODEL} here and let `evalkit ft status --wait` fill it in.",
        "# The approval gate (docs/ci.md), once the tuned route exists:",
        "#   gate: {candidate: tuned, baseline: base, max_drop: {accuracy: 0.0}}",
    ]
    return "\n".join(lines) + "\n"
