"""Keys into the cashier screen and waits on what it shows, with no wall-clock idle guessing.

Textual's ``Pilot.press`` waits after every key until the *process* looks idle (CPU time
against wall time, up to a second, twice per key). The till's runtime, sync, printer and
drawer threads share the process, so on a busy or slow machine every key waits out that
second: a full day of sales then takes ten minutes. Here a key is posted to the app exactly
as the terminal driver posts it, and the wait is for the screen's message queues to have
handled it (``Pilot.pause(0)``), which costs what the work costs and nothing more. What a
key changes in the runtime (another thread) is awaited with ``until`` on the condition.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import App
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

DEFAULT_TIMEOUT_S = 30.0  # a deadline for a busy machine, not a speed check


def key_event(key: str) -> events.Key:
    """The Key event a terminal would produce for a Textual key name (as Pilot.press builds it)."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(
            _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
        )
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def press(app: App[Any], pilot: Any, keys: str) -> None:
    """Press space-separated keys in order; return once the screen has handled each one."""
    for key in keys.split():
        event = key_event(key)
        event.set_sender(app)
        app.post_message(event)
        await pilot.pause(0)


async def until(
    pilot: Any,
    check: Callable[[], bool],
    what: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    detail: Callable[[], str] = lambda: "",
) -> None:
    """Let the screen run until ``check()`` holds; fail naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError(f"{what}: not within {timeout:.0f} s {detail()}")
        await pilot.pause(0.01)
