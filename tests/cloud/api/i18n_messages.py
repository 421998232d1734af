"""Every message the HQ page can say when it refuses something, gathered from the code itself.

The catalogue test (test_i18n_and_cli.py) fails for any of them missing in zh_CN or en.
"""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from cloud.api.app import NOT_PAGES, all_routes, create_app
from cloud.api.reasons import INVALID
from cloud.api.routers.pushes import PushRequest
from cloud.api.routers.users import NewUser
from cloud.domain.crm import MOVE_REFUSED
from cloud.domain.errors import Explained
from cloud.store.hq_access import NEEDS_STORES
from tests.cloud.api.recorder import Recorder

ROOT = Path(__file__).resolve().parents[3]
#: Text the JSON decoder can answer with for a push's items (one bad input each).
BAD_JSON = ("", "{", '{"a" 1}', '{"a": 1 "b": 2}', "[1,]", '"abc', '"\\q"', '"\\u12"', "{} x",
            '"a\x01"')  # fmt: skip


def _callee(module: Any, node: ast.expr) -> Any:
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute):
        base = _callee(module, node.value)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def _literal_messages(path: Path) -> Iterator[str]:
    """Messages given as literal text to an Explained error or an HTTPException in one module."""
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    module = importlib.import_module(name)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        kind = _callee(module, node.func)
        if not isinstance(kind, type):
            continue
        if issubclass(kind, Explained):
            args = node.args[:1]
        elif issubclass(kind, HTTPException):
            args = node.args[1:2] + [k.value for k in node.keywords if k.arg == "detail"]
        else:
            continue
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value


def refusal_messages() -> set[str]:
    """Everything the page's refusals can look up in the catalogues."""
    found = {m for path in sorted((ROOT / "cloud").rglob("*.py"))
             if path.name != "__main__.py" for m in _literal_messages(path)}  # fmt: skip
    found |= set(MOVE_REFUSED.values()) | set(NEEDS_STORES.values())
    found |= {f"invalid.{kind}" for kind in INVALID} | {"%(field)s: %(problem)s", "; "}
    found |= {f"field.{name}" for name in page_fields()}
    for text in BAD_JSON:
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            found.add(err.msg)
    return found


def page_fields() -> set[str]:
    """The names of every field, query and path parameter of the page's own routes, and of
    the models its forms fill."""
    names = set(NewUser.model_fields) | set(PushRequest.model_fields)
    for route in all_routes(create_app("sqlite:///:memory:", Recorder())):
        dependant = getattr(route, "dependant", None)
        if dependant is None or route.path.startswith(NOT_PAGES):
            continue
        for param in (*dependant.query_params, *dependant.path_params, *dependant.body_params):
            names.add(param.name)
    return names
