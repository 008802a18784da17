"""Preference (DPO) JSONL, as OpenAI and Together take it:
{"input": {"messages": [...]}, "preferred_output": [assistant], "non_preferred_output": [assistant]}.
"""

from __future__ import annotations

from typing import Any

from evalkit.finetune.formats import Format, Problem, TrainingExample
from evalkit.finetune.formats.chat import check_messages

_KEYS = ("input", "preferred_output", "non_preferred_output")
_INPUT_ROLES = ("system", "user", "assistant")
_MESSAGE_KEYS = ("role", "content", "name")


class OpenAIPreference(Format):
    name = "openai-dpo"
    description = "OpenAI / Together preference tuning (DPO): {input, preferred_output, non_preferred_output}"
    needs_rejected = True
    method = "dpo"

    def render(self, example: TrainingExample) -> dict[str, Any]:
        if example.rejected is None:
            raise ValueError(f"case {example.case_id!r} has no rejected output")
        return {
            "input": {"messages": list(example.prompt)},
            "preferred_output": [{"role": "assistant", "content": example.completion}],
            "non_preferred_output": [{"role": "assistant", "content": example.rejected}],
        }

    def check(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [Problem("data_type", f"the line is a JSON {type(record).__name__}, not an object")]
        problems = [
            Problem("unrecognized_key", f"unknown key {k!r} (known: {', '.join(_KEYS)})")
            for k in record
            if k not in _KEYS
        ]
        messages = record.get("input", {}).get("messages") if isinstance(record.get("input"), dict) else None
        if not messages or not isinstance(messages, list):
            problems.append(Problem("missing_messages_list", "no `input.messages` list (or an empty one)"))
        else:
            problems += check_messages(messages, roles=_INPUT_ROLES, keys=_MESSAGE_KEYS, where="input ")
            if isinstance(messages[-1], dict) and messages[-1].get("role") != "user":
                problems.append(
                    Problem("input_not_ending_with_user", "input.messages should end with a user message", "warning")
                )
        for key in _KEYS[1:]:
            output = record.get(key)
            if not isinstance(output, list) or len(output) != 1:
                problems.append(Problem("missing_output", f"`{key}` must be a list of exactly one assistant message"))
                continue
            problems += check_messages(output, roles=("assistant",), keys=_MESSAGE_KEYS, where=f"{key} ")
        return problems

    def messages(self, record: Any) -> list[dict[str, Any]]:
        """The prompt and both answers: all of them are processed in training."""
        return [*record["input"]["messages"], *record["preferred_output"], *record["non_preferred_output"]]

    def matches(self, record: Any) -> bool:
        return isinstance(record, dict) and "preferred_output" in record
