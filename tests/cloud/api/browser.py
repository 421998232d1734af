"""The HQ page in a real browser: the app under uvicorn, headless Debian Chromium, signing in.

Every browser test of the HQ page goes through here, so they all launch the same Chromium the
same way (the one `make system` installs; a missing one fails the test rather than skipping it).
Screenshots go to var/hq-page/.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from provisioning.ports import free_port
from tests.cloud.api.access import PASSWORD, bearer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[3] / "var" / "hq-page"
#: A phone held upright, and a tablet held upright (the HQ page is used on both).
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 1366}


@dataclass(frozen=True)
class Site:
    """A served HQ app and the cloud database behind it."""

    url: str
    db_url: str


def wait_for(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll until ``check`` returns something truthy, or fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Served:
    """The HQ app under uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        wait_for(lambda: self.server.started, "the HQ server to start", 60)
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def require_chromium() -> None:
    """Fail (not skip) without Debian's Chromium: a browser test that never runs proves nothing."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make system` installs it (APT_PACKAGES)")


def call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """Plain HTTP with a bearer token: the status and the answer (JSON decoded when it is)."""
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read().decode()
            kind = answer.headers.get("Content-Type", "")
            return answer.status, json.loads(raw) if "json" in kind else raw
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@contextmanager
def chromium(**options: Any) -> Iterator[Any]:
    """A fresh headless Chromium profile (a Playwright context), Chinese unless told otherwise;
    ``options`` go to Playwright's ``launch_persistent_context`` (viewport, accept_downloads)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    settings = {"viewport": TABLET, "locale": "zh-CN", **options}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, **settings
        )
        try:
            yield context
        finally:
            context.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot into var/hq-page/, for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, username: str) -> None:
    """Open the sign-in form and sign in."""
    page.goto(f"{url}/login")
    fill_sign_in(page, username)


def fill_sign_in(page: Any, username: str) -> None:
    """Sign in on the sign-in form the page shows now (keeping where it leads back to)."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#who")
