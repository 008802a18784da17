"""A small local evaluator of OpenAI grader JSON, written for the tests (evalkit itself never runs
graders): `{{ sample.x }}` / `{{ item.x }}` templating, string_check (eq, ne, like, ilike),
python graders (`grade(sample, item)`, run in-process) and multi graders (`calculate_output`
over the sub-graders' scores: numbers, names, + - * / ^, and min, max, abs, floor, ceil, exp,
sqrt, log).

`sample_for(output_text)` models what the grader sees of an answer: its text, and
`output_json` when the text is a JSON object (else empty).
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from typing import Any

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.BitXor: operator.pow}
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "floor": math.floor, "ceil": math.ceil, "exp": math.exp,
              "sqrt": math.sqrt, "log": math.log}


def sample_for(output_text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(output_text)
    except (TypeError, ValueError):
        parsed = None
    return {"output_text": output_text, "output_json": parsed if isinstance(parsed, dict) else {}}


def _lookup(scope: dict[str, Any], dotted: str) -> Any:
    value: Any = scope
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def render(template: str, sample: dict[str, Any], item: dict[str, Any]) -> str:
    def value(match: re.Match) -> str:
        found = _lookup({"sample": sample, "item": item}, match.group(1))
        if found is None:
            return ""
        return found if isinstance(found, str) else json.dumps(found)

    return _TEMPLATE.sub(value, template)


def calculate(expression: str, scores: dict[str, float]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            return scores[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -walk(node.operand) if isinstance(node.op, ast.USub) else walk(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"calculate_output: cannot evaluate {ast.dump(node)}")

    return float(walk(ast.parse(expression, mode="eval")))


def grade(grader: dict[str, Any], sample: dict[str, Any], item: dict[str, Any]) -> float:
    kind = grader["type"]
    if kind == "string_check":
        given, reference = render(grader["input"], sample, item), render(grader["reference"], sample, item)
        checks = {"eq": given == reference, "ne": given != reference, "like": reference in given,
                  "ilike": reference.lower() in given.lower()}
        return 1.0 if checks[grader["operation"]] else 0.0
    if kind == "python":
        namespace: dict[str, Any] = {}
        exec(compile(grader["source"], f"<grader {grader['name']}>", "exec"), namespace)
        return float(namespace["grade"](sample, item))
    if kind == "multi":
        scores = {name: grade(sub, sample, item) for name, sub in grader["graders"].items()}
        return calculate(grader["calculate_output"], scores)
    raise ValueError(f"the local evaluator has no {kind!r} grader")
