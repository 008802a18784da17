"""Repeat statistics: how stable a route is when it answers the same case N times.

A case's repeats form one cluster. Its *answers* are the predicted values of its rows,
with an unparsed output and an error row each counted as a value of their own
(`__unparsed__`, `__error__`), so a route that breaks its JSON one time in three does not
look stable.

* self-agreement: the share of cases (with at least two repeats) whose answers are all the same;
* flip rate: the share of cases (with at least two repeats) that were answered right in at
  least one repeat and wrong in another. Two different wrong answers are a disagreement but
  not a flip: the flip rate is what changes a verdict;
* majority vote: a case's majority answer is the answer given strictly more often than any
  other; a tie has no majority and counts as wrong. compare and gate use the majority
  vote's correctness, so repeats never inflate the number of cases;
* accuracy by repeat: the accuracy of the rows of repeat r, for each r, with their min,
  max and sample standard deviation (null with a single repeat).

Pure functions of result rows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from evalkit.metrics import predicted_value, rate


def answers_by_case(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Case id -> its answers in repeat order; cases in the order they first appear."""
    grouped: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        grouped.setdefault(row["case_id"], []).append((row.get("repeat") or 0, predicted_value(row)))
    return {case_id: [value for _, value in sorted(pairs, key=lambda p: p[0])] for case_id, pairs in grouped.items()}


def majority_answer(answers: list[str]) -> str | None:
    """The answer given strictly more often than any other; None on a tie."""
    if not answers:
        return None
    (top, count), *rest = Counter(answers).most_common(2) + [(None, 0)]
    return top if count > rest[0][1] else None


def majority_correct(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """Case id -> whether the case's majority answer is its expected label (a tie is wrong)."""
    expected = {row["case_id"]: row["expected_label"] for row in rows}
    return {
        case_id: majority_answer(answers) == expected[case_id] for case_id, answers in answers_by_case(rows).items()
    }


def repeat_stability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Self-agreement, flip rate, majority-vote accuracy and accuracy spread of one route's rows."""
    import numpy as np

    answers = answers_by_case(rows)
    expected = {row["case_id"]: row["expected_label"] for row in rows}
    repeated = {case_id: a for case_id, a in answers.items() if len(a) >= 2}
    agree = sum(1 for a in repeated.values() if len(set(a)) == 1)
    flips = sum(1 for case_id, a in repeated.items() if len({value == expected[case_id] for value in a}) == 2)
    majority = majority_correct(rows)
    ties = sum(1 for a in answers.values() if majority_answer(a) is None)

    by_repeat: dict[int, list[bool]] = {}
    for row in rows:
        by_repeat.setdefault(row.get("repeat") or 0, []).append(predicted_value(row) == row["expected_label"])
    per_repeat = [sum(v) / len(v) for _, v in sorted(by_repeat.items())]
    return {
        "n_repeats": len(by_repeat),
        "n_cases": len(answers),
        "self_agreement": {"value": agree / len(repeated) if repeated else None, "n": len(repeated)},
        "flip_rate": {"value": flips / len(repeated) if repeated else None, "n": len(repeated)},
        "majority_accuracy": rate(sum(majority.values()), len(majority)),
        "majority_ties": ties,
        "accuracy_by_repeat": {
            "values": per_repeat,
            "min": min(per_repeat) if per_repeat else None,
            "max": max(per_repeat) if per_repeat else None,
            "std": float(np.std(per_repeat, ddof=1)) if len(per_repeat) >= 2 else None,
        },
    }
