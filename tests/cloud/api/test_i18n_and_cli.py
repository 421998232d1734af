"""The page's text exists in Chinese and English; `python -m cloud.api users add` bootstraps."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from jinja2 import Environment, FileSystemLoader

from cloud.api import i18n
from cloud.api.pages import NAV, TEMPLATES
from cloud.api.reasons import INVALID, say
from cloud.api.routers.pages import attention
from cloud.domain.crm import SEARCH_KINDS
from cloud.domain.flags import FLAGS
from cloud.domain.tiers import TIER_ORDER
from cloud.store import hq_access
from cloud.store.db import open_cloud_db
from cloud.store.reports import REPORTS, Filters
from protocol.bodies import PointsReasonName
from protocol.items import ItemError, validate_items
from protocol.problems import PROBLEMS
from protocol.rules import BirthdayGift
from tests.cloud.api.i18n_messages import refusal_messages

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)")
DYNAMIC_PREFIXES = (
    "attention.",
    "tender.",
    "stream.",
    "effect.",
    "registration.",
    "tier.",
    "points_reason.",
    "printer.",
    "push_kind.",
    "gift.",
    "search_kind.",
    "job_state.",
)
#: The printer states a till's status names (device.runtime's paper_state).
PRINTER_STATES = ("ok", "paper_low", "paper_out", "offline", "error", "none", "unknown")


def used_messages() -> set[str]:
    """Every msgid the templates pass to _() literally, plus the ones built at run time."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"])
    found: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        for _line, _fn, message in env.extract_translations(path.read_text(), ("_",)):
            first = message[0] if isinstance(message, tuple) else message
            if isinstance(first, str):
                found.add(first)
    found |= {label for _path, label, _key in NAV}
    found |= {
        "HQ admin",
        "Marketing",
        "Store manager",
        "Analyst",
        "Technician",
        "Too many failed sign-ins; try again later.",
        "Wrong username or password.",
        "Enter a username and a password (at most 64 and 200 characters).",
        "Member count",
    }
    terminal = {
        "online": False,
        "printer": "paper_out",
        "oldest_unsynced_s": 9999,
        "flagged": True,
        "problem": "x",
        "registration": "revoked",
        "cert_mismatch": True,
    }
    found |= {f"attention.{w}" for w in attention(terminal)}
    # A revoked till is not asked to rotate its certificate, so a live one shows that reason.
    ending = {"online": True, "cert_not_after": "2000-01-01T00:00:00Z"}
    found |= {f"attention.{w}" for w in attention(ending)}
    found |= {f"tender.{k}" for k in ("cash", "card", "mobile", "points", "coupon")}
    found |= {
        f"stream.{s}" for s in ("prices", "catalogue", "members", "coupons", "config", "staff")
    }
    found |= {f"printer.{p}" for p in PRINTER_STATES}
    found |= {f"push_kind.{k}" for k in ("upsert", "delete")}
    found |= {f"gift.{k}" for k in get_args(get_type_hints(BirthdayGift)["kind"])}
    found |= {f"effect.{e}" for e in ("new", "changed", "unchanged", "removed", "unknown")}
    found |= {f"registration.{r}" for r in ("registered", "revoked", "unregistered")}
    found |= {f"tier.{t}" for t in TIER_ORDER}
    found |= {f"search_kind.{k}" for k in SEARCH_KINDS}
    found |= {f"job_state.{s}" for s in ("running", "ok", "failed")}
    found |= {f"points_reason.{r}" for r in get_args(PointsReasonName)}
    found |= set(PROBLEMS.values())  # a till's problems, said by their message id
    found |= set(FLAGS.values())  # why the cloud flagged a terminal, said by its message id
    return found


def test_every_message_has_chinese_and_english() -> None:
    catalogues = i18n.load_all()
    used = used_messages()
    assert len(used) > 120
    for language in i18n.LANGUAGES:
        missing = sorted(used - set(catalogues[language]))
        assert not missing, f"{language} lacks {missing}"
    zh = catalogues["zh_CN"]
    untranslated = sorted(m for m in used if zh[m] == m and not m.startswith("中文"))
    assert not untranslated, f"zh_CN repeats the English for {untranslated}"
    english_keys = sorted(
        m for m in used if m.startswith(DYNAMIC_PREFIXES) and catalogues["en"][m] == m
    )
    assert not english_keys, f"en shows raw keys for {english_keys}"


def test_every_refusal_the_page_can_say_has_chinese_and_english() -> None:
    """Refusals, validation errors and field names the page says (tests/cloud/api/
    i18n_messages.py gathers them from the code): each in both catalogues, Chinese in zh_CN."""
    catalogues = i18n.load_all()
    used = refusal_messages()
    assert len(used) > 100
    for language in i18n.LANGUAGES:
        missing = sorted(used - set(catalogues[language]))
        assert not missing, f"{language} lacks {missing}"
    zh = catalogues["zh_CN"]
    english = sorted(m for m in used if not re.search(r"[\u4e00-\u9fff；：]", zh[m]))
    assert not english, f"zh_CN says these in English: {english}"


def test_every_translation_fills_only_its_messages_placeholders() -> None:
    """A placeholder the message does not carry would fail the page with a KeyError."""
    for language, table in i18n.load_all().items():
        for msgid, text in table.items():
            given = set(PLACEHOLDER.findall(msgid))
            if msgid.startswith("invalid."):  # pydantic's context of the error fills these
                given |= set(INVALID[msgid.removeprefix("invalid.")])
            assert set(PLACEHOLDER.findall(text)) <= given, (language, msgid, text)


def test_the_push_schemas_words_are_said_in_both_languages() -> None:
    """The schema's messages have no catalogue id: the page reads them back (reasons.WORDED).
    In English the text comes back exactly; in Chinese none of msgspec's English is left."""
    catalogues = i18n.load_all()
    en, zh = (i18n.gettext_for(catalogues, lang) for lang in ("en", "zh_CN"))
    bad = ([{}], [{"sku": "A", "price_fen": "x"}], [{"sku": "A", "price_fen": -1}],
           [{"sku": "A", "price_fen": 5, "zz": 1}], [{"sku": "A" * 100, "price_fen": 5}], [5],
           [{"sku": "A", "price_fen": 5}, {"sku": "A", "price_fen": 6}],
           [{"sku": "A", "price_fen": 10**15}])  # fmt: skip
    for items in bad:
        with pytest.raises(ItemError) as caught:
            validate_items("prices", "upsert", items)
        assert say(caught.value, en) == str(caught.value)
        chinese = say(caught.value, zh)
        assert not re.search(r"Expected|Object|items\[|appears|at `", chinese), chinese


def test_every_report_name_and_column_has_a_label_in_both_languages(tmp_path: Path) -> None:
    """The reports page shows report names and column headings from the catalogues (a
    heading gross_fen over yuan figures read as fen); CSV and JSON keep the keys."""
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    try:
        every = Filters(None, dt.date(2026, 1, 1), dt.date(2026, 1, 1))
        columns = {c for report in REPORTS.values() for c in report(cdb, every).columns}
    finally:
        cdb.close()
    keys = {f"column.{c}" for c in columns} | {f"report.{n}" for n in REPORTS}
    catalogues = i18n.load_all()
    for language in i18n.LANGUAGES:
        missing = sorted(keys - set(catalogues[language]))
        assert not missing, f"{language} lacks {missing}"
    zh, en = catalogues["zh_CN"], catalogues["en"]
    assert not [k for k in keys if zh[k] == en[k]]  # Chinese labels, not English ones
    assert "_fen" not in " ".join(en[k] for k in keys)


def test_money_and_percent_formats() -> None:
    assert (i18n.yuan(123456), i18n.yuan(-5), i18n.yuan(0), i18n.yuan(None)) == (
        "¥1,234.56",
        "-¥0.05",
        "¥0.00",
        "",
    )
    assert i18n.percent(0.1234) == "12.3%" and i18n.percent(None) == ""


def test_times_say_they_are_utc_whether_stored_naive_or_aware() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert i18n.when(dt.datetime(2026, 3, 1, 4, 0)) == "2026-03-01 04:00:00 UTC"
    assert i18n.when("2026-03-01T04:00:00") == "2026-03-01 04:00:00 UTC"
    assert i18n.when("2026-03-01T04:00:00Z") == "2026-03-01 04:00:00 UTC"
    assert i18n.when(dt.datetime(2026, 3, 1, 12, 0, tzinfo=shanghai)) == "2026-03-01 04:00:00 UTC"
    assert i18n.when(None) == "" and i18n.when("not a time") == "not a time"


def test_users_add_creates_the_first_admin_from_the_shell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "cloud.api", "--db", url]
    made = subprocess.run(
        [*run, "users", "add", "chief", "--role", "admin", "--password-stdin", "--token", "ops"],
        input="a very long secret\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert (
        "user chief created (admin)" in made.stdout
        and "API token (shown once): hqt_" in made.stdout
    )
    cdb = open_cloud_db(url)
    with cdb.write():
        found = hq_access.check_login(cdb, "chief", "a very long secret")
    assert isinstance(found, hq_access.UserRow) and found.role == "admin"
    stored = cdb.hq.HqUser.get(cdb.hq.HqUser.username == "chief").password_hash
    cdb.close()
    assert stored.startswith("$argon2id$") and "a very long secret" not in stored
    twice = subprocess.run(
        [*run, "users", "add", "chief", "--role", "admin", "--password-stdin"],
        input="a very long secret\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert twice.returncode == 1 and "already exists" in twice.stderr
    nowhere = subprocess.run(
        [
            *run,
            "users",
            "add",
            "m",
            "--role",
            "store_manager",
            "--stores",
            "S404",
            "--password-stdin",
        ],
        input="a very long secret\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nowhere.returncode == 1 and "unknown store(s) S404" in nowhere.stderr
    short = subprocess.run(
        [*run, "users", "add", "x1", "--role", "analyst", "--password-stdin"],
        input="short\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
