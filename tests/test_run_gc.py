"""A run freezes its long-lived objects away from the garbage collector while it runs
(evalkit.gcfreeze.long_lived_objects_frozen) and leaves the collector as it found it."""

from __future__ import annotations

import gc

from evalkit.gcfreeze import long_lived_objects_frozen
from evalkit.runner import RunOptions, run_suite


def test_a_run_leaves_nothing_frozen(make_suite, tmp_path):
    run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    assert gc.get_freeze_count() == 0


def test_objects_are_frozen_inside_and_collectable_after():
    with long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_what_someone_else_froze_stays_frozen():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with long_lived_objects_frozen():
            pass
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
