"""Every cloud service opens one database wherever it is started, and says which one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cloud.api.users_cli import main as users_main
from cloud.dburl import APP_DIR, describe
from cloud.ingest.__main__ import parse_args as ingest_args
from cloud.jobs.__main__ import main as jobs_main
from cloud.jobs.__main__ import parse_args as jobs_args

IN_CHECKOUT = f"sqlite:///{APP_DIR / 'var' / 'cloud.db'}"


def test_services_started_in_different_directories_name_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    seen = set()
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        seen |= {ingest_args([]).db, jobs_args(["runs"]).db}
        seen |= {ingest_args(["--db", "sqlite:///var/cloud.db"]).db}
    assert seen == {IN_CHECKOUT}
    given = f"sqlite:///{tmp_path / 'x.db'}"
    assert ingest_args(["--db", given]).db == given  # an absolute path is kept as given


def test_the_log_names_the_file_in_full_and_a_server_without_its_password() -> None:
    assert describe("sqlite:////srv/pos/cloud.db") == "SQLite /srv/pos/cloud.db"
    shown = describe("postgresql://pos:s3cret@db.example.com:5433/pos")
    assert shown == "postgresql pos@db.example.com:5433/pos"
    assert "s3cret" not in shown


def test_a_service_logs_the_database_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "cloud.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    with caplog.at_level(logging.INFO):
        assert jobs_main(["runs"]) == 0
    assert f"cloud database: SQLite {db}" in caplog.text


def test_the_users_command_says_which_database_holds_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cloud.db"
    monkeypatch.setenv("POS_HQ_USER_PASSWORD", "long enough password")
    code = users_main(["--db", f"sqlite:///{db}", "users", "add", "tech", "--role",
                       "technician", "--token", "tech"])  # fmt: skip
    assert code == 0
    assert f"user tech created (technician) in SQLite {db}" in capsys.readouterr().out
