"""Pick some of a suite's cases for a quick run: `evalkit run --case ID --tag TAG --limit N`.

`--case` and `--tag` (each repeatable) pick the holdout cases named or carrying any of the
tags (both given: either); `--limit N` then keeps the first N, in the suite's order. Train
cases are never dropped: they are the few-shot pool. The manifest records the selection, so a
resumed run keeps it and every reader knows the run is not the whole suite.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Any

from evalkit.errors import BadInput

if TYPE_CHECKING:
    from evalkit.suite import LoadedSuite


def selection_of(case_ids: list[str] | None, tags: list[str] | None, limit: int | None) -> dict[str, Any] | None:
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1, got {limit}")
    if not case_ids and not tags and limit is None:
        return None
    return {"cases": list(case_ids or []), "tags": list(tags or []), "limit": limit}


def pick_cases(suite: LoadedSuite, selection: dict[str, Any] | None) -> LoadedSuite:
    """The suite with only the selected holdout cases (the same object when nothing is picked)."""
    if not selection:
        return suite
    holdout = suite.holdout
    ids = {c.id for c in holdout}
    for case_id in selection.get("cases") or []:
        if case_id not in ids:
            near = difflib.get_close_matches(case_id, sorted(ids), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            where = (
                "a train case, not evaluated"
                if any(c.id == case_id for c in suite.train)
                else "not a case of this suite"
            )
            raise BadInput(f"--case {case_id!r}: {where}{hint}", where=str(suite.path))
    known_tags = {t for c in holdout for t in c.tags}
    for tag in selection.get("tags") or []:
        if tag not in known_tags:
            near = difflib.get_close_matches(tag, sorted(known_tags), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise BadInput(f"--tag {tag!r}: no holdout case has this tag{hint}", where=str(suite.path))
    wanted_ids, wanted_tags = set(selection.get("cases") or []), set(selection.get("tags") or [])
    picked = [
        c for c in holdout if (not wanted_ids and not wanted_tags) or c.id in wanted_ids or wanted_tags & set(c.tags)
    ]
    if selection.get("limit") is not None:
        picked = picked[: selection["limit"]]
    keep = {id(c) for c in picked}
    return dataclasses.replace(suite, cases=[c for c in suite.cases if c.split != "holdout" or id(c) in keep])
