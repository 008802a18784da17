"""Score one answer the way evalkit scores it, with the standard library only.

The source text of this module is copied into what `evalkit ft reward` and `--grader-out` write
(the TRL reward module, the python graders of an OpenAI grader), so it imports nothing from
evalkit and nothing outside the standard library. `evalkit.finetune.rft` builds the SPEC these
functions read: the label field and set, the output schema, and the weighted components.

Parsing is evalkit's (`evalkit.scoring`): the whole output as JSON, else the first fenced
```json (or bare ```) block. Validation is "schema-light": the keywords `type`, `enum`,
`const`, `required`, `properties`, `additionalProperties`, `items`, `minLength`, `maxLength`,
`pattern`, `minimum`, `maximum`, `minItems` and `maxItems`; other keywords are not checked.
An answer that does not parse, fails that validation, or has no label from the label set
scores 0.
"""

import json
import re

_FENCE = re.compile(r"```([A-Za-z0-9_+.-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_TYPES = {"object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "null": (type(None),),
          "number": (int, float), "integer": (int,)}


def parse_output(text):
    """The answer as JSON, else its first fenced block as JSON; None when neither parses."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text.strip())
    except ValueError:
        pass
    for match in _FENCE.finditer(text):
        if match.group(1).lower() in ("", "json"):
            try:
                return json.loads(match.group(2))
            except ValueError:
                return None
    return None


def _is_type(value, name):
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def schema_error(value, schema, where="(root)"):
    """The first way `value` breaks the schema's light keywords, or None."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, k) for k in kinds):
            return "%s is not of type %s" % (where, "/".join(kinds))
    if "enum" in schema and value not in schema["enum"]:
        return "%s is not one of the enum" % where
    if "const" in schema and value != schema["const"]:
        return "%s is not the const" % where
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return "%s is shorter than %s" % (where, schema["minLength"])
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return "%s is longer than %s" % (where, schema["maxLength"])
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return "%s does not match %s" % (where, schema["pattern"])
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return "%s is below the minimum" % where
        if "maximum" in schema and value > schema["maximum"]:
            return "%s is above the maximum" % where
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return "%s has no %r" % (where, key)
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                error = schema_error(item, properties[key], "%s/%s" % (where, key))
            elif extra is False:
                error = "%s has an unexpected %r" % (where, key)
            else:
                error = schema_error(item, extra, "%s/%s" % (where, key)) if isinstance(extra, dict) else None
            if error:
                return error
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return "%s has fewer than %s items" % (where, schema["minItems"])
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return "%s has more than %s items" % (where, schema["maxItems"])
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                error = schema_error(item, schema["items"], "%s/%d" % (where, i))
                if error:
                    return error
    return None


def get_path(obj, dotted):
    """Follow a dot path (`a.b.0`) into parsed JSON; None when it leads nowhere."""
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def canonical_label(parsed, spec):
    """The label at the label field, from the label set (case-folded with ignore_case), or None."""
    label = get_path(parsed, spec["label_field"])
    if not isinstance(label, str):
        return None
    label = label.strip()
    if spec.get("ignore_case"):
        folded = dict((known.casefold(), known) for known in spec["labels"])
        return folded.get(label.casefold())
    return label if label in spec["labels"] else None


def valid_output(text, spec):
    """The parsed answer when evalkit would call it parsed (JSON, schema, a known label), else None."""
    parsed = parse_output(text)
    if parsed is None:
        return None
    if spec.get("schema") is not None and schema_error(parsed, spec["schema"]) is not None:
        return None
    if canonical_label(parsed, spec) is None:
        return None
    return parsed


def _sentences(text):
    stripped = text.strip()
    if not stripped:
        return 0
    return len(_SENTENCE_END.findall(stripped)) + (0 if stripped[-1] in ".!?" else 1)


def text_checks_pass(value, checks):
    """Every rewarded check of a text field (mentions_source is never one: a grader sees no sources)."""
    text = value if isinstance(value, str) else None
    results = []
    if checks.get("non_empty"):
        results.append(bool(text and text.strip()))
    if checks.get("min_chars") is not None:
        results.append(text is not None and len(text) >= checks["min_chars"])
    if checks.get("max_chars") is not None:
        results.append(text is not None and len(text) <= checks["max_chars"])
    if checks.get("max_sentences") is not None:
        results.append(text is not None and 0 < _sentences(text) <= checks["max_sentences"])
    for pattern in checks.get("must_match") or []:
        results.append(text is not None and re.search(pattern, text) is not None)
    for pattern in checks.get("must_not_match") or []:
        results.append(text is not None and re.search(pattern, text) is None)
    return all(results)


def component_score(component, parsed, reference, spec):
    """One component of the reward, in [0, 1], of an answer that parsed."""
    kind = component["type"]
    if kind == "primary":
        return 1.0 if canonical_label(parsed, spec) == reference.get(component["key"]) else 0.0
    predicted = get_path(parsed, component["path"])
    if kind == "text":
        return 1.0 if text_checks_pass(predicted, component["checks"]) else 0.0
    expected = reference.get(component["key"])
    if kind == "ordinal":
        order = component["order"]
        if predicted not in order or expected not in order:
            return 0.0
        return 1.0 - abs(order.index(predicted) - order.index(expected)) / (len(order) - 1)
    if kind == "number":
        if not isinstance(predicted, (int, float)) or isinstance(predicted, bool) or expected is None:
            return 0.0
        return 1.0 if abs(float(predicted) - float(expected)) <= component["tolerance"] + 1e-12 else 0.0
    return 1.0 if predicted == expected else 0.0


def score(text, reference, spec):
    """The reward of one answer: 0 unless it parses; else the weighted mean of its components."""
    parsed = valid_output(text, spec)
    if parsed is None:
        return 0.0
    total = 0.0
    for component in spec["components"]:
        total = total + component["weight"] * component_score(component, parsed, reference, spec)
    return total / spec["total_weight"]
