"""The till's one message catalogue: every message in zh_CN and en, and every key the code
uses (checkout core, runtime, screen, receipts, customer display) is in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from device import i18n
from device.checkout.errors import CheckoutError
from device.checkout.loyalty import LoyaltyConfig, validate_redemption
from device.receipts import LABEL_KEYS

ROOT = Path(i18n.__file__).parent
KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# Refused carries a catalogue key (checked with the other keys), the rest an English template.
ERRORS = {cls.__name__ for cls in (CheckoutError, *CheckoutError.__subclasses__())} - {"Refused"}


def _sources(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (ROOT / part).rglob("*.py"))


def _error_messages(paths: list[Path]) -> dict[str, str]:
    """Every domain error's message id (its first argument), with where it is raised."""
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ERRORS
                and node.args
            ):
                first = node.args[0]
                where = f"{path.name}:{node.lineno}"
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{where}: a domain error's message must be a literal template, not an "
                    "f-string, so the screen can translate it"
                )
                found[first.value] = where
    return found


def _key_literals(paths: list[Path], namespaces: set[str]) -> dict[str, str]:
    """String literals shaped like a catalogue key in one of the catalogue's namespaces."""
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if KEY.match(value) and value.split(".")[0] in namespaces:
                    found[value] = f"{path.name}:{node.lineno}"
    return found


def test_every_message_has_both_languages_with_the_same_fields() -> None:
    en, zh = i18n.CATALOGUES["en"], i18n.CATALOGUES["zh_CN"]
    assert len(en) > 400
    assert set(en) == set(zh), set(en) ^ set(zh)
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        # Chinese may name an item by its Chinese name ({item_zh} for {item})
        zh_fields = {f.removesuffix("_zh") for f in i18n.fields(zh[key])}
        assert zh_fields == i18n.fields(en[key]), key


def test_every_key_the_till_uses_is_in_the_catalogue() -> None:
    en = i18n.CATALOGUES["en"]
    namespaces = {key.split(".")[0] for key in en}
    used = _key_literals([*_sources("checkout", "ui"), ROOT / "runtime.py"], namespaces)
    assert len(used) > 150
    missing = {key: where for key, where in used.items() if key not in en}
    assert not missing


def test_every_domain_error_is_a_translated_template() -> None:
    messages = _error_messages(_sources("checkout"))
    assert len(messages) > 120
    zh = i18n.CATALOGUES["zh_CN"]
    missing = {msg: where for msg, where in messages.items() if msg not in zh}
    assert not missing
    for msg in messages:
        assert zh[msg] != msg, f"{msg!r} is not translated"


@pytest.mark.parametrize(
    ("key", "params", "english", "chinese"),
    [
        (
            "line {line_no} is weighed: its quantity cannot change",
            {"line_no": "5"},
            "line 5 is weighed: its quantity cannot change",
            "第5行是称重商品：不能改数量",
        ),
        ("only {available} points available", {"available": "61"}, "only 61 points available",
         "只有61积分可用"),
        ("redeem in blocks of {block}", {"block": "100"}, "redeem in blocks of 100",
         "积分须按100的整数倍使用"),
        (
            "{tender} {handed} is more than the {due} still due",
            {"tender": "card", "handed": "¥90.00", "due": "¥50.00"},
            "card ¥90.00 is more than the ¥50.00 still due",
            "银行卡¥90.00超过还需支付的¥50.00",
        ),
        ("{role} may not {permission}", {"role": "a cashier", "permission": "override a price"},
         "a cashier may not override a price", "收银员不能改价"),
        ("member.identified", {"phone": "139****5024", "tier": "gold", "points": "18"},
         "member 139****5024, gold, 18 points", "会员139****5024，金卡，积分18"),
        ("display.total", {"total": "¥12.00"}, "TOTAL ¥12.00", "合计 ¥12.00"),
        ("display.change", {}, "CHANGE", "找零"),
        ("display.member_anonymous", {"phone": "139****5024"}, "Member 139****5024",
         "会员 139****5024"),
    ],
)  # fmt: skip
def test_messages_render_in_each_language(
    key: str, params: dict[str, str], english: str, chinese: str
) -> None:
    assert i18n.render(key, "en", **params) == english
    assert i18n.render(key, "zh", **params) == chinese
    assert i18n.render(key, "zh_CN", **params) == chinese


def test_a_domain_error_reaches_the_screen_in_its_language() -> None:
    """The core raises an English template; the notice renders it in Chinese, wrapped."""
    config = LoyaltyConfig()
    with pytest.raises(CheckoutError) as caught:
        validate_redemption(150, 10_000, 500, config)
    err = caught.value
    assert str(err) == "redeem in blocks of 100"
    params = {**err.params, "reason": str(err), "reason_key": err.msgid}
    assert i18n.render("error.loyalty", "zh", **params) == "积分须按100的整数倍使用"
    assert i18n.render("error.loyalty", "en", **params) == "redeem in blocks of 100"


def test_a_missing_field_or_language_never_breaks_the_screen() -> None:
    # HQ may leave a field out: it shows as "?"
    assert i18n.render("coupon.min_spend", "zh", code="C1") == "券C1需消费满?"
    # an unknown language reads English; an unknown key shows itself
    assert i18n.render("scan.first", "fr") == "scan an item first"
    assert i18n.render("no.such_key", "zh") == "no.such_key"


def test_every_phase_tier_and_tender_has_its_words() -> None:
    from device.checkout.records import TenderKind, Tier
    from device.checkout.state import Phase

    en = i18n.CATALOGUES["en"]
    keys = [f"phase.{p.value}" for p in Phase] + [f"tier.{t.value}" for t in Tier]
    keys += [f"receipt.tier.{t.value}" for t in Tier]
    keys += [f"tender.kind.{k.value}" for k in TenderKind]
    keys += [f"receipt.tender.{k.value}" for k in TenderKind]
    keys += [f"receipt.label.{key}" for key in LABEL_KEYS]
    assert [key for key in keys if key not in en] == []
