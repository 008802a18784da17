"""Chat formats: a `messages` list of {role, content} per line.

`openai-chat` is what OpenAI's fine-tuning API takes (and Together and Fireworks too); its checks
are the OpenAI cookbook notebook's, one problem per offending message as the notebook counts them.
`hf-chat` is the conversational layout that TRL's SFTTrainer and Unsloth read through the
tokenizer's chat template: plain {role, content} messages, roles system/user/assistant/tool.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalkit.finetune.formats import Format, Problem, TrainingExample


def check_messages(messages: Any, *, roles: tuple[str, ...], keys: tuple[str, ...], where: str = "") -> list[Problem]:
    """Per-message checks shared by chat-shaped formats (the notebook's, one problem per message)."""
    problems: list[Problem] = []
    for number, message in enumerate(messages, start=1):
        at = f"{where}message {number}"
        if not isinstance(message, dict):
            problems.append(Problem("data_type", f"{at} is not a JSON object"))
            continue
        if "role" not in message or "content" not in message:
            missing = [k for k in ("role", "content") if k not in message]
            problems.append(Problem("message_missing_key", f"{at} has no {' or '.join(missing)}"))
        unknown = [k for k in message if k not in keys]
        if unknown:
            problems.append(
                Problem(
                    "message_unrecognized_key",
                    f"{at} has unknown keys {', '.join(map(repr, unknown))} (known: {', '.join(keys)})",
                )
            )
        if message.get("role") not in roles:
            problems.append(
                Problem(
                    "unrecognized_role", f"{at} has role {message.get('role')!r} (expected one of {', '.join(roles)})"
                )
            )
        content = message.get("content")
        if (not content and not message.get("function_call")) or not isinstance(content, str):
            problems.append(Problem("missing_content", f"{at} has no text content"))
    return problems


class _Chat(Format):
    roles: ClassVar[tuple[str, ...]] = ()
    keys: ClassVar[tuple[str, ...]] = ()

    def render(self, example: TrainingExample) -> dict[str, Any]:
        return {"messages": [*example.prompt, {"role": "assistant", "content": example.completion}]}

    def check(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [Problem("data_type", f"the line is a JSON {type(record).__name__}, not an object")]
        messages = record.get("messages")
        if not messages or not isinstance(messages, list):
            return [Problem("missing_messages_list", "no `messages` list (or an empty one)")]
        problems = check_messages(messages, roles=self.roles, keys=self.keys)
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            problems.append(Problem("example_missing_assistant_message", "no assistant message: nothing to learn"))
        return problems

    def messages(self, record: Any) -> list[dict[str, Any]]:
        return list(record["messages"])

    def matches(self, record: Any) -> bool:
        return isinstance(record, dict) and isinstance(record.get("messages"), list)


class OpenAIChat(_Chat):
    """OpenAI chat fine-tuning JSONL: {"messages": [{"role", "content"}, ...]}."""

    name = "openai-chat"
    description = "OpenAI chat fine-tuning (also Together, Fireworks): {messages: [...]}"
    roles = ("system", "user", "assistant", "function")
    keys = ("role", "content", "name", "function_call", "weight")


class HuggingFaceChat(_Chat):
    """The conversational `messages` layout of TRL's SFTTrainer and Unsloth."""

    name = "hf-chat"
    detect_order = 1  # the same shape as OpenAI chat: a file of it reads as OpenAI's unless --format says
    description = "Hugging Face TRL / Unsloth conversational dataset: {messages: [...]}"
    roles = ("system", "user", "assistant", "tool")
    keys = ("role", "content")

    def check(self, record: Any) -> list[Problem]:
        problems = super().check(record)
        if not problems and record["messages"][-1].get("role") != "assistant":
            problems.append(
                Problem(
                    "last_message_not_assistant",
                    "the last message is not the assistant's: a completion-only loss learns nothing from it",
                    "warning",
                )
            )
        return problems
