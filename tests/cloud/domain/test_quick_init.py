"""quick_init's __init__ takes the same arguments and makes the same frozen objects as the
dataclass's own, for every class ingest gives one to, and its objects survive a pickle."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from cloud.domain import projections
from cloud.store.apply import IncomingEvent

CLASSES = [projections.SkuKey, projections.SkuFigures, projections.TotalsKey,
           projections.TotalsFigures, projections.Projection, projections.LedgerRow,
           IncomingEvent]  # fmt: skip


def _twin(cls: type) -> Any:
    """The same fields as an ordinary frozen slotted dataclass (with its generated __init__)."""
    specs = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, f.type))
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True, slots=True)


def _values(obj: Any) -> list[Any]:
    return [getattr(obj, f.name) for f in dataclasses.fields(obj)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_quick_init_is_the_dataclass_init(cls: type) -> None:
    twin = _twin(cls)
    ours, theirs = inspect.signature(cls.__init__), inspect.signature(twin.__init__)
    assert [(p.name, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.kind) for p in theirs.parameters.values()
    ]
    assert cls.__init__ is not twin.__init__
    missing = dataclasses.MISSING
    required = [f for f in dataclasses.fields(cls)
                if f.default is missing and f.default_factory is missing]  # fmt: skip
    args = [f"value-{i}" for i in range(len(required))]
    # Only the required fields: every default and factory fills in the same way.
    assert _values(cls(*args)) == _values(twin(*args))
    made = cls(*args)
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(made, f.name) is not getattr(cls(*args), f.name)  # a fresh one each
    # Every field given, by position and by name.
    every = [f"given-{i}" for i in range(len(dataclasses.fields(cls)))]
    named = {f.name: v for f, v in zip(dataclasses.fields(cls), every, strict=True)}
    assert _values(cls(*every)) == _values(twin(*every)) == _values(cls(**named)) == every
    with pytest.raises(TypeError):
        cls(*every, "one too many")
    if required:
        with pytest.raises(TypeError):
            cls()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_objects_stay_frozen_and_comparable(cls: type) -> None:
    every = [f"given-{i}" for i in range(len(dataclasses.fields(cls)))]
    made = cls(*every)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.__setattr__(dataclasses.fields(cls)[0].name, "changed")
    assert made == cls(*every) and hash(made) == hash(cls(*every))
    assert dataclasses.replace(made) == made


def test_only_a_frozen_slotted_dataclass_with_plain_fields_is_taken() -> None:
    @dataclasses.dataclass(slots=True)
    class Open:
        a: int

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Named:
        a: int

    for cls in (Open, Unslotted, Named):
        with pytest.raises(TypeError, match="frozen slotted dataclass"):
            projections.quick_init(cls)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_objects_cross_a_pickle_whole(cls: type) -> None:
    """The prepare process hands these over by pickle: every field comes back, defaults and
    factories included, except an event's typed body, which is left behind on purpose."""
    every = [f"given-{i}" for i in range(len(dataclasses.fields(cls)))]
    made = cls(*every)
    back = pickle.loads(pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(back) is cls
    if cls is IncomingEvent:
        assert back.typed is None and made.typed == every[-1]
        assert _values(back)[:-1] == every[:-1]
    else:
        assert back == made and _values(back) == every
    missing = dataclasses.MISSING
    required = [f for f in dataclasses.fields(cls)
                if f.default is missing and f.default_factory is missing]  # fmt: skip
    defaults = cls(*[f"value-{i}" for i in range(len(required))])  # the rest by default
    assert _values(pickle.loads(pickle.dumps(defaults))) == _values(defaults)
