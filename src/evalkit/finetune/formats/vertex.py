"""Vertex AI Gemini supervised tuning JSONL:
{"systemInstruction": {"role": "system", "parts": [{"text"}]},
 "contents": [{"role": "user"|"model", "parts": [{"text"}]}]}.
"""

from __future__ import annotations

from typing import Any

from evalkit.finetune.formats import Format, Problem, TrainingExample

_KEYS = ("systemInstruction", "contents")
_ROLES = {"user": "user", "model": "assistant"}


def _parts(text: str) -> list[dict[str, str]]:
    return [{"text": text}]


def _check_parts(content: Any, at: str) -> list[Problem]:
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return [Problem("missing_content", f"{at} has no `parts` list")]
    if not all(isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"] for p in parts):
        return [Problem("missing_content", f"{at} has a part without text")]
    return []


class VertexGemini(Format):
    name = "vertex-gemini"
    description = "Vertex AI Gemini supervised tuning: {systemInstruction, contents: [{role, parts}]}"

    def render(self, example: TrainingExample) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in example.prompt if m["role"] == "system")
        contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": _parts(m["content"])}
                    for m in example.prompt if m["role"] != "system"]
        contents.append({"role": "model", "parts": _parts(example.completion)})
        record: dict[str, Any] = {"contents": contents}
        if system:
            record = {"systemInstruction": {"role": "system", "parts": _parts(system)}, **record}
        return record

    def check(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [Problem("data_type", f"the line is a JSON {type(record).__name__}, not an object")]
        problems = [
            Problem("unrecognized_key", f"unknown key {k!r} (known: {', '.join(_KEYS)})")
            for k in record
            if k not in _KEYS
        ]
        system = record.get("systemInstruction")
        if system is not None:
            problems += [Problem("data_type", "systemInstruction is not an object")] if not isinstance(system, dict) \
                else _check_parts(system, "systemInstruction")
        contents = record.get("contents")
        if not contents or not isinstance(contents, list):
            return problems + [Problem("missing_messages_list", "no `contents` list (or an empty one)")]
        for number, content in enumerate(contents, start=1):
            at = f"contents {number}"
            if not isinstance(content, dict):
                problems.append(Problem("data_type", f"{at} is not a JSON object"))
                continue
            unknown = [k for k in content if k not in ("role", "parts")]
            if unknown:
                problems.append(
                    Problem("message_unrecognized_key", f"{at} has unknown keys {', '.join(map(repr, unknown))}")
                )
            if content.get("role") not in _ROLES:
                problems.append(
                    Problem("unrecognized_role", f"{at} has role {content.get('role')!r} (expected user or model)")
                )
            problems += _check_parts(content, at)
        if not any(isinstance(c, dict) and c.get("role") == "model" for c in contents):
            problems.append(Problem("example_missing_assistant_message", "no model turn: nothing to learn"))
        return problems

    def messages(self, record: Any) -> list[dict[str, Any]]:
        def text(content: dict) -> str:
            return "".join(p["text"] for p in content["parts"])

        messages = (
            [{"role": "system", "content": text(record["systemInstruction"])}]
            if record.get("systemInstruction")
            else []
        )
        return messages + [{"role": _ROLES[c["role"]], "content": text(c)} for c in record["contents"]]

    def matches(self, record: Any) -> bool:
        return isinstance(record, dict) and isinstance(record.get("contents"), list)
