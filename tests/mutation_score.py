"""The checkout core's mutation score from mutmut's results (`make mutation` prints it).

A surviving mutant is one of three things:

* message-only: it changes nothing but the text of an error the core raises (the
  exception class, and so what the till does, stays the same). Refusal keys
  (``Refused("coupon.expired")``) are not text: they choose what the cashier is told,
  so a mutant of one counts as a change of behaviour;
* equivalent: it cannot change behaviour; each is listed in EQUIVALENT with the reason
  (MESSAGE lists the message-only ones the check below cannot see);
* a gap: a change of behaviour no test sees.

The score is killed / (mutants checked - message-only - equivalent). Run from the
repository root after ``mutmut run``; ``--min 95`` exits 1 below 95 %.
"""

from __future__ import annotations

import argparse
import ast
import json
import string
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

META_DIR = Path("mutants/device/checkout")

# Mutants that cannot change what the code does, by name (mutmut numbers the mutants of a
# function in order, so an edit to that function renumbers them: re-check this list then).
_ALL_LINES = (
    "the units map holds every line of the sale (returned_units starts from all of them), "
    "and a line with no units returned adds proportion(net, 0, sold) = 0 either way"
)
_ZERO_ROW = "a ledger row of 0 adds no lot and spends nothing whichever branch takes it"
_SAME_LENGTH_SPREAD = "allocate gives one part per member: strict or not, the zip is the same"
_SAME_LENGTH = "the split gives one figure per tender: strict or not, the zip is the same"
_NO_X = "a digit is never X: the XX around the allowed digits adds nothing to `in`"
EQUIVALENT: dict[str, str] = {
    "device.checkout.money.x_round_div__mutmut_6": "denominator 0 is refused above: <= 0 is < 0",
    "device.checkout.money.x_round_div__mutmut_7": "integers: < 1 is <= 0, and 0 is refused above",
    "device.checkout.money.x_round_div__mutmut_25": "numerator 0 gives quotient 0, and -0 == 0",
    "device.checkout.money.x_round_div__mutmut_26": "integers: >= 1 is > 0, and -0 == 0",
    "device.checkout.money.x_allocate__mutmut_11": "amount 0: every part is 0 whatever the sign",
    "device.checkout.money.x_allocate__mutmut_12": "integers: < 1 is <= 0; amount 0 gives 0s",
    "device.checkout.money.x_parse_yuan__mutmut_37": "ljust(2) is never empty: the or is dead",
    "device.checkout.loyalty.x_expire_points__mutmut_12": _ZERO_ROW,
    "device.checkout.loyalty.x_expire_points__mutmut_30": _ZERO_ROW,
    "device.checkout.loyalty.x_expire_points__mutmut_31": _ZERO_ROW,
    "device.checkout.loyalty.x_points_earned__mutmut_1": "0 fen earns 0 * multiplier = 0",
    "device.checkout.returns.x_split_highest_averages__mutmut_6": "amount 0: floors are all 0",
    "device.checkout.returns.x_split_highest_averages__mutmut_22": (
        "best is only tested for < 0 before a positive weight sets it"
    ),
    "device.checkout.returns.x_split_highest_averages__mutmut_25": (
        "a zero weight picked first loses to any positive weight after it (0 > x never holds"
        " for it), and some weight is positive once the total is"
    ),
    "device.checkout.pricing.x_price_cart__mutmut_8": (
        "without a member the tier is None, and no rules hold None: get(None, 0) is 0"
    ),
    "device.checkout.pricing.x_price_cart__mutmut_21": (
        "the tier label is used only with a tier discount, and there is none without a tier"
    ),
    "device.checkout.pricing.x_price_cart__mutmut_53": (
        "a line without an item promotion gets promo None, and then off is never read"
    ),
    "device.checkout.promotions.x_item_promotions__mutmut_31": (
        "percent_off takes the line for a uniform signature and never reads it"
    ),
    "device.checkout.pricing.x__spread__mutmut_8": _SAME_LENGTH_SPREAD,
    "device.checkout.pricing.x__spread__mutmut_11": _SAME_LENGTH_SPREAD,
    "device.checkout.pricing.x__spread__mutmut_12": _SAME_LENGTH_SPREAD,
    "device.checkout.pricing.x__spend_off__mutmut_3": (
        "a base of 0 gets min(0, off) = 0 off; a repeating offer has a threshold above 0"
    ),
    "device.checkout.tenders.x_remaining_due__mutmut_5": "a tender of 0 adds 0 to what is paid",
    "device.checkout.tenders.x_settle__mutmut_30": (
        "change comes from one cash tender only: once it is given nothing is due, and any"
        " further tender is refused, so = and += agree"
    ),
    "device.checkout.returns.x_plan_return__mutmut_104": _SAME_LENGTH,
    "device.checkout.returns.x_plan_return__mutmut_108": _SAME_LENGTH,
    "device.checkout.returns.x_plan_return__mutmut_109": _SAME_LENGTH,
    "device.checkout.returns.x_plan_return__mutmut_78": (
        "a tender of 0 weighs 0 in the split, gets 0 and so never gets a refund line"
    ),
    "device.checkout.returns.x_plan_return__mutmut_83": (
        "settle refuses any tender on a zero total, so a zero-total sale's tenders add up to 0"
    ),
    "device.checkout.returns.x__cumulative_refund__mutmut_5": _ALL_LINES,
    "device.checkout.returns.x__cumulative_refund__mutmut_6": _ALL_LINES,
    "device.checkout.returns.x__cumulative_refund__mutmut_9": _ALL_LINES,
    "device.checkout.returns.x__cumulative_refund__mutmut_11": _ALL_LINES,
    "device.checkout.returns.x__cumulative_refund__mutmut_12": _ALL_LINES,
    "device.checkout.barcodes.x__eight_digits__mutmut_9": _NO_X,
    "device.checkout.barcodes.x_upce_to_upca__mutmut_31": _NO_X,
    "device.checkout.barcodes.x_upce_to_upca__mutmut_42": _NO_X,
    "device.checkout.barcodes.x_upce_to_upca__mutmut_29": (
        "d[6] (the check digit of an 8-digit UPC-E) is never read: the expansion takes d[0:6]"
    ),
    "device.checkout.barcodes.x_build_variable_code__mutmut_5": (
        "only the first len(pattern) characters are read, 20 at most, and prefix + 20 zeros"
        " already has more: a 21st zero is never looked at"
    ),
}
# Message-only mutants the automatic check cannot see (the text is built in a helper).
MESSAGE: dict[str, str] = {
    "device.checkout.promotions.xǁPromotionǁ__post_init____mutmut_11": (
        "the promotion's name, used only in the reasons of its PricingErrors"
    ),
    "device.checkout.tenders.x_coupon_amount__mutmut_47": "coupon code in the bad-date reason",
    "device.checkout.tenders.x_coupon_amount__mutmut_52": "coupon code in the bad-date reason",
    **dict.fromkeys(
        [
            f"device.checkout.barcodes.{name}"
            for name in (
                "x__eight_digits__mutmut_2",
                "x__eight_digits__mutmut_5",
                "x__eight_digits__mutmut_6",
                "x__eight_digits__mutmut_13",
                "x__eight_digits__mutmut_16",
                "x__eight_digits__mutmut_17",
                "x_parse_barcode__mutmut_43",
                "x_parse_barcode__mutmut_46",
                "x_parse_barcode__mutmut_47",
                "x__upca__mutmut_2",
                "x__upca__mutmut_5",
                "x__upca__mutmut_6",
                "x__numeric_label__mutmut_4",
            )
        ],
        "the symbology's name passed to _check, used only in the bad-check-digit reason",
    ),
    **dict.fromkeys(
        [
            f"device.checkout.barcodes.{name}"
            for name in (
                "x__upca__mutmut_15",
                "x__upca__mutmut_16",
                "x__numeric_label__mutmut_9",
                "x__numeric_label__mutmut_13",
                "x__numeric_label__mutmut_14",
            )
        ],
        "what the code is, passed to _restricted for the reason of a code no layout reads",
    ),
}

_KILLED = {1, 3, 24, -24, 36, 152, 255, 37}  # a failing test, a timeout, or the type checker


def _functions(name: str, path: Path) -> tuple[str, str]:
    """The original and the mutant source of the function ``name`` mutates."""
    import libcst as cst
    from mutmut.mutation.diff_apply import (
        read_functions_from_index,
        read_mutant_function,
        read_mutants_module,
        read_original_function,
    )

    pair = read_functions_from_index(name, path)
    if pair is None:
        module = read_mutants_module(path)
        pair = (read_original_function(module, name), read_mutant_function(module, name))
    return tuple(cst.Module([f]).code for f in pair)  # type: ignore[return-value]


def _walk_diff(
    a: Any, b: Any, stack: tuple[ast.AST, ...]
) -> Iterator[tuple[Any, Any, tuple[ast.AST, ...]]]:
    """Yield (original, mutant, ancestors) for every differing node or value."""
    if isinstance(a, ast.AST) and type(a) is type(b):
        for field in a._fields:
            yield from _walk_diff(getattr(a, field), getattr(b, field), (*stack, a))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            yield from _walk_diff(x, y, stack)
    elif a != b or type(a) is not type(b):
        yield a, b, (*stack, a) if isinstance(a, ast.AST) else stack


# The core's errors whose only argument is the English reason shown to the cashier.
_TEXT_ERRORS = frozenset(
    {
        "BarcodeError", "CartError", "CheckoutError", "LoyaltyError", "PermissionDenied",
        "PricingError", "ReturnError", "ShiftError", "TenderError", "ValueError",
        "ZeroDivisionError",
    }
)  # fmt: skip


def _is_message(stack: tuple[ast.AST, ...]) -> bool:
    """True when a difference lies in the reason given to one of the core's text errors."""
    raises = [n for n in stack if isinstance(n, ast.Raise)]
    if not raises or not isinstance(raises[-1].exc, ast.Call):
        return False
    call = raises[-1].exc
    if not (isinstance(call.func, ast.Name) and call.func.id in _TEXT_ERRORS):
        return False
    return any(arg in stack for arg in [*call.args, *(k.value for k in call.keywords)])


def _dropped_argument(a: Any, b: Any, stack: tuple[ast.AST, ...]) -> bool:
    """True when the mutant drops the reason or a parameter of a text error and still raises it.

    The error formats its reason with its parameters (``CheckoutError``): without the reason
    it is "", and without parameters the reason is kept unformatted, so the class raised is
    the same. Only a parameter dropped while others are kept would fail (a KeyError).
    """
    if not (stack and isinstance(stack[-1], ast.Call) and isinstance(b, list)):
        return False
    call = stack[-1]
    if not _is_message((*stack, *call.args)) or not call.args:
        return False
    args, keywords = (b, call.keywords) if a is call.args else (call.args, b)
    if a is not call.args and a is not call.keywords:
        return False
    if not args or not keywords:
        return True
    reason = args[0]
    if not (isinstance(reason, ast.Constant) and isinstance(reason.value, str)):
        return False
    names = {k.arg for k in keywords}
    return all(f is None or f.split(".")[0].split("[")[0] in names for _, f, _, _ in
               string.Formatter().parse(reason.value))  # fmt: skip


def _still_formats(tree: ast.AST) -> bool:
    """False when a text error's reason names a parameter it is not given (a KeyError).

    Upper-casing ``"wrong length: {payload_len}"`` changes more than the text: the error
    then fails to build, and a KeyError is raised in its place; a reason of None with
    parameters raises an AttributeError.
    """
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in _TEXT_ERRORS or not node.args or not node.keywords:
            continue
        reason = node.args[0]
        if isinstance(reason, ast.Constant) and not isinstance(reason.value, str):
            return False  # None.format(...): an AttributeError
        if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
            names = {k.arg for k in node.keywords}
            if not all(f is None or f.split(".")[0].split("[")[0] in names for _, f, _, _ in
                       string.Formatter().parse(reason.value)):  # fmt: skip
                return False
    return True


def message_only(name: str, path: Path) -> bool:
    """True when the mutant changes only the text of an error the core raises."""
    orig, mutant = (ast.parse(textwrap.dedent(src)) for src in _functions(name, path))
    diffs = list(_walk_diff(orig, mutant, ()))
    return (
        bool(diffs)
        and all(_is_message(stack) or _dropped_argument(a, b, stack) for a, b, stack in diffs)
        and _still_formats(mutant)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=0.0, help="fail below this score (%%)")
    parser.add_argument("--gaps", action="store_true", help="list the surviving gaps")
    parser.add_argument(
        "--gap-names", action="store_true", help="print only the gaps' names, for a rerun"
    )
    args = parser.parse_args()
    rows: list[tuple[str, Counter[str]]] = []
    gaps: list[str] = []
    for meta in sorted(META_DIR.glob("*.py.meta")):
        source = Path("device/checkout") / meta.name.removesuffix(".meta")
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter()
        for name, code in sorted(exit_codes.items()):
            if code is None:
                counts["unchecked"] += 1
            elif code in _KILLED:
                counts["killed"] += 1
            elif code in (5, 33):
                counts["no tests"] += 1
            elif name in EQUIVALENT:
                counts["equivalent"] += 1
            elif name in MESSAGE or (code == 0 and message_only(name, source)):
                counts["message"] += 1
            else:
                counts["gap"] += 1
                gaps.append(name)
        if exit_codes:
            rows.append((source.stem, counts))
    if args.gap_names:
        print(" ".join(gaps))
        return 0
    cols = ("killed", "gap", "no tests", "message", "equivalent", "unchecked")
    print(f"{'module':<14}" + "".join(f"{c:>11}" for c in cols) + f"{'score':>8}")
    total: Counter[str] = Counter()
    for module, counts in rows:
        total.update(counts)
        print(f"{module:<14}" + "".join(f"{counts[c]:>11}" for c in cols) + _score(counts))
    print(f"{'all':<14}" + "".join(f"{total[c]:>11}" for c in cols) + _score(total))
    if args.gaps:
        print("\n".join(gaps))
    behaviour = total["killed"] + total["gap"] + total["no tests"]
    return 1 if behaviour and 100 * total["killed"] / behaviour < args.min else 0


def _score(counts: Counter[str]) -> str:
    behaviour = counts["killed"] + counts["gap"] + counts["no tests"]
    return f"{100 * counts['killed'] / behaviour:>7.1f}%" if behaviour else f"{'-':>8}"


if __name__ == "__main__":
    sys.exit(main())
