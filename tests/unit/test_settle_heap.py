"""cli.settle_heap: what a serving process has built leaves the collector's view."""

from __future__ import annotations

import gc

from bookit_graphql import cli


def test_settle_heap_freezes_what_exists_and_spaces_young_collections() -> None:
    threshold = gc.get_threshold()
    kept = [object() for _ in range(10)]  # something that exists before
    try:
        # when a process settles its heap before serving
        cli.settle_heap()
        # then what existed is frozen, and the young generation is collected less often
        assert gc.get_freeze_count() > len(kept)
        assert gc.get_threshold()[0] == cli.GC_YOUNG
        assert gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
