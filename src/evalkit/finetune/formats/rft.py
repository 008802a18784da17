"""Reinforcement fine-tuning data: per line the prompt messages, ending with a user message (the
model writes the answer), and the case's expected answer as reference fields.

`openai-rft` is what OpenAI (and Azure OpenAI) take, the grader reading the fields as
`{{ item.<field> }}`: {"messages": [...], "reason_code": "...", ...}. `hf-grpo` is TRL's
prompt-only layout for GRPOTrainer: {"prompt": [...], "reason_code": "...", ...}.
"""

from __future__ import annotations

from typing import Any

from evalkit.finetune.formats import Format, Problem, TrainingExample
from evalkit.finetune.formats.chat import check_messages

_ROLES = ("system", "developer", "user", "assistant")
_MESSAGE_KEYS = ("role", "content", "name")


class OpenAIReinforcement(Format):
    name = "openai-rft"
    detect_order = -1  # a chat line with reference fields: tried before chat
    description = "OpenAI / Azure OpenAI reinforcement fine-tuning: {messages: [... user], reference fields}"
    method = "reinforcement"
    needs_reference = True
    needs_validation = True

    def render(self, example: TrainingExample) -> dict[str, Any]:
        if example.reference is None:
            raise ValueError(f"case {example.case_id!r} has no reference fields")
        return {"messages": list(example.prompt), **example.reference}

    def check(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [Problem("data_type", f"the line is a JSON {type(record).__name__}, not an object")]
        messages = record.get("messages")
        if not messages or not isinstance(messages, list):
            return [Problem("missing_messages_list", "no `messages` list (or an empty one)")]
        problems = check_messages(messages, roles=_ROLES, keys=_MESSAGE_KEYS)
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") != "user":
            problems.append(
                Problem(
                    "last_message_not_user",
                    f"the last message is the {last.get('role')!r} one: reinforcement fine-tuning needs the "
                    "prompt to end with a user message (the model writes the answer)",
                )
            )
        if not [k for k in record if k != "messages"]:
            problems.append(Problem("missing_reference_fields", "no reference fields beside `messages`: the grader has "
                                                                "nothing to compare the answer with"))
        return problems

    def check_file(self, records: list[tuple[int, Any]]) -> list[tuple[int, Problem]]:
        """Every line carries the reference fields the others do."""
        keyed = [(line, set(r) - {"messages"}) for line, r in records if isinstance(r, dict)]
        every = set().union(*(keys for _, keys in keyed)) if keyed else set()
        return [(line, Problem("missing_reference_field", f"no reference field {key!r} (other lines have it)"))
                for line, keys in keyed for key in sorted(every - keys)]

    def messages(self, record: Any) -> list[dict[str, Any]]:
        return list(record["messages"])

    def matches(self, record: Any) -> bool:
        return isinstance(record, dict) and isinstance(record.get("messages"), list) and len(record) > 1


class TRLPromptOnly(OpenAIReinforcement):
    """TRL's prompt-only conversational dataset for GRPOTrainer: {"prompt": [...], reference columns};
    the columns reach the reward function (`evalkit ft reward --format trl`) as keyword lists."""

    name = "hf-grpo"
    description = "Hugging Face TRL GRPOTrainer prompt-only dataset: {prompt: [... user], reference columns}"
    method = "grpo"
    needs_validation = False

    def render(self, example: TrainingExample) -> dict[str, Any]:
        record = super().render(example)
        return {"prompt": record.pop("messages"), **record}

    def check(self, record: Any) -> list[Problem]:
        if isinstance(record, dict) and "prompt" in record:
            record = {"messages": record["prompt"], **{k: v for k, v in record.items() if k != "prompt"}}
        return [Problem(p.kind.replace("messages", "prompt"), p.message.replace("`messages`", "`prompt`"), p.severity)
                for p in super().check(record)]

    def check_file(self, records: list[tuple[int, Any]]) -> list[tuple[int, Problem]]:
        renamed = [(line, {("messages" if k == "prompt" else k): v for k, v in r.items()}) for line, r in records
                   if isinstance(r, dict)]
        return super().check_file(renamed)

    def messages(self, record: Any) -> list[dict[str, Any]]:
        return list(record["prompt"])

    def matches(self, record: Any) -> bool:
        return isinstance(record, dict) and isinstance(record.get("prompt"), list) and len(record) > 1
