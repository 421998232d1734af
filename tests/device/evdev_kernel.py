"""A stand-in /dev/input for python-evdev, for tests of everything that reads evdev devices.

No /dev/input or /dev/uinput exists in CI containers, so python-evdev's two entry points
(list_devices, InputDevice) are replaced: each node is an object with a real pipe fd (select()
works on it) and the kernel's answers (ENODEV after an unplug, EBUSY when another program holds
the grab).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

import evdev
import pytest


@dataclass
class Info:
    vendor: int
    product: int


@dataclass
class Ev:
    type: int
    code: int
    value: int


class Node:
    """One /dev/input/eventN."""

    def __init__(self, path: str, vendor: int, product: int, keys: list[int]) -> None:
        self.path, self.info, self.keys = path, Info(vendor, product), keys
        self.r, self.w = os.pipe()
        self.gone = False
        self.busy = False
        self.grabbed = False
        self.pending: list[Ev] = []


class FakeInput:
    """What the kernel shows under /dev/input."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, node: Node) -> Node:
        self.nodes[node.path] = node
        return node

    def list_devices(self) -> list[str]:
        return [p for p, n in self.nodes.items() if not n.gone]

    def open(self, path: str) -> object:
        node = self.nodes[path]

        class Dev:
            info = node.info
            fd = node.r

            def __init__(self) -> None:
                self.path = path

            def capabilities(self) -> dict[int, list[int]]:
                return {1: node.keys} if node.keys else {}

            def grab(self) -> None:
                if node.busy:
                    raise OSError(errno.EBUSY, "Device or resource busy")
                node.grabbed = True

            def ungrab(self) -> None:
                node.grabbed = False

            def close(self) -> None:
                pass

            def read(self) -> list[Ev]:
                if node.gone:
                    raise OSError(errno.ENODEV, "No such device")
                os.read(node.r, 1)
                out, node.pending = node.pending, []
                return out

        return Dev()

    def push(self, node: Node, events: list[tuple[int, int, int]]) -> None:
        node.pending += [Ev(*e) for e in events]
        os.write(node.w, b"x")


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInput]:
    """python-evdev sees only the nodes a test adds."""
    fake = FakeInput()
    monkeypatch.setattr(evdev, "list_devices", fake.list_devices)
    monkeypatch.setattr(evdev, "InputDevice", fake.open)
    yield fake
    for node in fake.nodes.values():
        os.close(node.r)
        os.close(node.w)
