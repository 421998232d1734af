"""The ingest command line: the database comes from DATABASE_URL unless --db names one."""

from __future__ import annotations

import pytest

from cloud.dburl import APP_DIR
from cloud.ingest.__main__ import parse_args


def test_database_url_sets_the_default_and_db_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://pos@127.0.0.1:5432/pos")
    assert parse_args([]).db == "postgresql://pos@127.0.0.1:5432/pos"
    assert parse_args(["--db", "sqlite:////srv/x.db"]).db == "sqlite:////srv/x.db"
    monkeypatch.delenv("DATABASE_URL")
    assert parse_args([]).db == f"sqlite:///{APP_DIR / 'var' / 'cloud.db'}"


def test_group_max_defaults_to_grouping_and_one_turns_it_off() -> None:
    assert parse_args([]).group_max == 8
    assert parse_args(["--group-max", "1"]).group_max == 1
    for bad in ("0", "-2", "many"):
        with pytest.raises(SystemExit):
            parse_args(["--group-max", bad])
