"""The cloud database the services open: one file wherever they start, and how to name it in a log.

cloud.store.db's default, ``sqlite:///var/cloud.db``, is a path relative to the working
directory: ingest started in one directory and HQ in another would each open their own file,
and HQ would show nothing ingest stored. Every service (and `fleet units`, whose units run in
the product checkout) therefore reads a relative SQLite path as relative to the product
checkout, so ``var/cloud.db`` is the same file however and wherever a service is started.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cloud.store.db import configured_url

#: The product checkout (the directory holding the ``cloud`` package).
APP_DIR: Final = Path(__file__).resolve().parents[1]
_SQLITE: Final = "sqlite:///"


def absolute_url(url: str, base: Path = APP_DIR) -> str:
    """``url`` with a relative SQLite path made absolute under ``base``; other URLs as given."""
    url = url.strip()
    if not url.startswith(_SQLITE):
        return url
    path, sep, query = url[len(_SQLITE) :].partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    return f"{_SQLITE}{base / path}{sep}{query}"


def describe(url: str) -> str:
    """Which database ``url`` names, for a log line: never its password."""
    if url.startswith(_SQLITE):
        return f"SQLite {url[len(_SQLITE) :].partition('?')[0]}"
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme} {user}{parts.hostname or ''}{port}{parts.path}"


def add_database_argument(p: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    """``--db``, defaulting to $DATABASE_URL, else SQLite in the product checkout's var/."""
    p.add_argument(
        "--db",
        type=absolute_url,
        default=configured_url(environ),
        help="sqlite:///path or postgresql://... (default: $DATABASE_URL, else "
        f"sqlite:///{APP_DIR / 'var' / 'cloud.db'}; a relative SQLite path is "
        "relative to the product checkout, not to the current directory)",
    )


def log_database(name: str, url: str) -> None:
    """Say at start which database this service opened, so two services can be compared."""
    logging.getLogger(name).info("cloud database: %s", describe(url))
