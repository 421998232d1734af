"""Register a terminal with the cloud through the authenticated HQ API (technician role).

Contract: ``POST {hq}/api/terminals`` with ``Authorization: Bearer <token>`` and JSON
``{terminal_id, store_id, cert_sha256, cert_serial, cert_valid_from, cert_valid_until}``;
200/201 registered, 404 unknown store, 409 the terminal id is taken, 401/403 a bad or
under-privileged token. A rotation's new certificate: ``PUT
{hq}/api/terminals/{id}/certificate`` with ``{cert_pem}``; 200 recorded, 404 not registered,
409 revoked or older than the one registered, 422 not this terminal's (or not the fleet's).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Final

from provisioning.errors import RegistrationError

TOKEN_ENV: Final = "POS_HQ_TOKEN"
TIMEOUT_S: Final = 20.0
#: Where a technician's token comes from, for every message that asks for one.
TOKEN_SOURCE: Final = (
    "a technician's token comes from HQ: an admin opens Users (用户) on the HQ page, adds a "
    "user with the technician role and gives it a New API token (新建 API 令牌); or, on the "
    "HQ host: python -m cloud.api users add NAME --role technician --token NAME (it prints "
    "the token once)"
)


@dataclass(frozen=True, slots=True)
class Registration:
    """What HQ records about a terminal's identity."""

    terminal_id: str
    store_id: str
    cert_sha256: str
    cert_serial: str
    cert_valid_from: str | None = None  # ISO UTC; None for a record made before they were kept
    cert_valid_until: str | None = None


def register(hq_url: str, token: str, reg: Registration, timeout_s: float = TIMEOUT_S) -> None:
    """Register, or raise RegistrationError saying what to fix."""
    body = {"terminal_id": reg.terminal_id, "store_id": reg.store_id,
            "cert_sha256": reg.cert_sha256, "cert_serial": reg.cert_serial}  # fmt: skip
    if reg.cert_valid_until:
        body.update(cert_valid_from=reg.cert_valid_from, cert_valid_until=reg.cert_valid_until)
    _call(hq_url, token, "POST", "/api/terminals", body, reg, timeout_s)


def replace_certificate(
    hq_url: str, token: str, reg: Registration, pem: bytes, timeout_s: float = TIMEOUT_S
) -> None:
    """Tell HQ the terminal's new certificate (a rotation), or raise RegistrationError."""
    path = f"/api/terminals/{reg.terminal_id}/certificate"
    _call(hq_url, token, "PUT", path, {"cert_pem": pem.decode()}, reg, timeout_s)


def _call(
    hq_url: str, token: str, method: str, path: str, body: dict[str, object],
    reg: Registration, timeout_s: float,
) -> None:  # fmt: skip
    if not token:
        raise RegistrationError(f"no HQ token: pass --token or set {TOKEN_ENV}; {TOKEN_SOURCE}")
    request = urllib.request.Request(
        hq_url.rstrip("/") + path, data=json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
            return
    except urllib.error.HTTPError as err:
        detail = _detail(err)
        raise RegistrationError(_refusal(err.code, reg, hq_url, detail, method)) from None
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise RegistrationError(
            f"cannot reach HQ at {hq_url}: {reason}; check the address (--hq-url) and the "
            "network, then run the same command again"
        ) from None


def _detail(err: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(err.read() or b"{}")
    except (ValueError, OSError):
        return ""
    detail = body.get("detail", "") if isinstance(body, dict) else ""
    return detail if isinstance(detail, str) else json.dumps(detail)


def _refusal(code: int, reg: Registration, hq_url: str, detail: str, method: str) -> str:
    extra = f" ({detail})" if detail else ""
    if code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        return (
            f"{hq_url} has no terminal registration (POST /api/terminals): check --hq-url "
            "points at the HQ API, and that it is up to date"
        )
    if code == 404 and "not registered" in detail:
        return (
            f"HQ has no registration for terminal {reg.terminal_id}{extra}: `terminal register` "
            "records it"
        )
    if code == 404:
        return (
            f"HQ does not know store {reg.store_id}{extra}: check --store, or create the store "
            "at HQ first"
        )
    if code in (409, 422) and method == "PUT":
        return f"HQ did not take the new certificate of terminal {reg.terminal_id}{extra}"
    if code == 409:
        return (
            f"HQ already has a terminal {reg.terminal_id}{extra}: pick another --terminal, or "
            "retire the old one first"
        )
    if code in (401, 403):
        return (
            f"HQ refused the token ({code}){extra}: use a technician's token (--token or "
            f"{TOKEN_ENV}); {TOKEN_SOURCE}"
        )
    return f"HQ at {hq_url} answered {code}{extra}; try again later"
