"""The event records (faye_websocket.events): the shallow copy listeners of a close get."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from faye_websocket.events import CloseEvent, ErrorEvent, MessageEvent, OpenEvent, copied, with_target


@pytest.mark.parametrize("event", [
    CloseEvent(1000, "bye", True),
    CloseEvent(None),
    MessageEvent("text"),
    ErrorEvent("broken", error=OSError("reset")),
    OpenEvent(),
])
def test_copied_equals_copy_copy_and_stays_frozen(event: object) -> None:
    with_target(event, object())
    twin = copied(event)
    assert twin is not event and type(twin) is type(event)
    assert vars(twin) == vars(copy.copy(event)) == vars(event)
    assert twin.target is event.target  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        twin.target = None  # type: ignore[attr-defined]


def test_a_copy_given_a_new_target_leaves_the_original_alone() -> None:
    kept = CloseEvent(1006)
    twin = copied(kept)
    with_target(twin, "the API object")
    assert kept.target is None and twin.target == "the API object"
