"""The status bar tells the cashier what matters: offline, unsynced, paper, a stopped sync."""

from __future__ import annotations

from device.checkout.state import Phase, State
from device.runtime import View
from device.ui.panels import status_bar


def _view(**kw: object) -> View:
    return View(state=State(phase=Phase.LOGGED_OUT), sync_enabled=True, **kw)  # type: ignore[arg-type]


def test_a_stopped_sync_is_shown_in_place_of_online_in_both_languages() -> None:
    halted = _view(online=True, sync_halted="the cloud holds seq 21 ... restored", unsynced=15)
    assert "同步已停止：请联系技术支持（销售已保存）" in status_bar(halted, "zh")
    en = status_bar(halted, "en")
    assert "SYNC STOPPED: call support (sales are kept)" in en and "online" not in en
    assert "unsynced 15" in en  # the sales it keeps are still counted
    assert "online" in status_bar(_view(online=True), "en")
