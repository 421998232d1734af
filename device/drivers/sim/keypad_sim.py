"""A GPIO key matrix on gpiozero mock pins: pressing a key joins its row and column electrically."""

from __future__ import annotations

import threading
from typing import Any

from gpiozero.pins.mock import MockPin  # type: ignore[import-untyped]


class _ColumnPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type hints
    """A pulled-up column: reads low while a pressed key connects it to a row driven low."""

    def __init__(self, factory: Any, info: Any, matrix: KeyMatrixSim, col: int) -> None:
        super().__init__(factory, info)
        self._matrix = matrix
        self._col = col

    def _get_state(self) -> bool:
        return not self._matrix.column_pulled_low(self._col)


class KeyMatrixSim:
    """Create before the keypad driver: it installs the column pins on the factory.

    `bounce(key, n)` makes the next n reads of that key's column flip, like a worn contact.
    """

    def __init__(self, factory: Any, row_pins: tuple[Any, ...], col_pins: tuple[Any, ...]):
        self._factory = factory
        self._rows = row_pins
        self._lock = threading.Lock()
        self._down: set[tuple[int, int]] = set()
        self._bounces: dict[int, int] = {}
        for c, pin in enumerate(col_pins):
            factory.pin(pin, pin_class=_ColumnPin, matrix=self, col=c)

    def press(self, row: int, col: int) -> None:
        """Hold the key at (row, col) down."""
        with self._lock:
            self._down.add((row, col))

    def release(self, row: int, col: int) -> None:
        """Let the key go."""
        with self._lock:
            self._down.discard((row, col))

    def bounce(self, col: int, reads: int) -> None:
        """Invert the next `reads` reads of a column (contact bounce)."""
        with self._lock:
            self._bounces[col] = reads

    def column_pulled_low(self, col: int) -> bool:
        """Electrical truth for a column read right now."""
        with self._lock:
            low = any(
                c == col and self._factory.pin(self._rows[r]).state is False for r, c in self._down
            )
            if self._bounces.get(col, 0) > 0:
                self._bounces[col] -= 1
                low = not low
            return low
