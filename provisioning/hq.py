"""Register a terminal with the cloud through the authenticated HQ API (technician role).

Contract: ``POST {hq}/api/terminals`` with ``Authorization: Bearer <token>`` and JSON
``{terminal_id, store_id, cert_sha256, cert_serial}``; 200/201 registered, 404 unknown store,
409 the terminal id is taken, 401/403 a bad or under-privileged token.
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


@dataclass(frozen=True, slots=True)
class Registration:
    """What HQ records about a terminal's identity."""

    terminal_id: str
    store_id: str
    cert_sha256: str
    cert_serial: str


def register(hq_url: str, token: str, reg: Registration, timeout_s: float = TIMEOUT_S) -> None:
    """Register, or raise RegistrationError saying what to fix."""
    if not token:
        raise RegistrationError(
            f"no HQ token: pass --token or set {TOKEN_ENV} (a technician's token from HQ)"
        )
    url = hq_url.rstrip("/") + "/api/terminals"
    body = json.dumps(
        {"terminal_id": reg.terminal_id, "store_id": reg.store_id,
         "cert_sha256": reg.cert_sha256, "cert_serial": reg.cert_serial}
    ).encode()  # fmt: skip
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
            return
    except urllib.error.HTTPError as err:
        detail = _detail(err)
        raise RegistrationError(_refusal(err.code, reg, hq_url, detail)) from None
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


def _refusal(code: int, reg: Registration, hq_url: str, detail: str) -> str:
    extra = f" ({detail})" if detail else ""
    if code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        return (
            f"{hq_url} has no terminal registration (POST /api/terminals): check --hq-url "
            "points at the HQ API, and that it is up to date"
        )
    if code == 404:
        return (
            f"HQ does not know store {reg.store_id}{extra}: check --store, or create the store "
            "at HQ first"
        )
    if code == 409:
        return (
            f"HQ already has a terminal {reg.terminal_id}{extra}: pick another --terminal, or "
            "retire the old one first"
        )
    if code in (401, 403):
        return (
            f"HQ refused the token ({code}){extra}: use a technician's token (--token or "
            f"{TOKEN_ENV})"
        )
    return f"HQ at {hq_url} answered {code}{extra}; try again later"
