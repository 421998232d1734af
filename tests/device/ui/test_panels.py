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


def test_the_status_bar_names_paper_and_devices_in_the_screen_language() -> None:
    from device.drivers.errors import DeviceStatus

    scanner = DeviceStatus("scanner", "disconnected", "scanner not found on /dev/ttyACM0")
    view = _view(paper="paper_low", devices={"scanner": scanner})
    zh = status_bar(view, "zh")
    assert "纸 将尽" in zh and "扫描枪: 未连接" in zh
    assert "paper_low" not in zh and "disconnected" not in zh
    en = status_bar(view, "en")
    assert "paper low" in en and "scanner: disconnected" in en
    # a device the catalogue does not know still shows by its own name
    odd = _view(devices={"scale": DeviceStatus("scale", "error", "no answer")})
    assert "scale: 故障" in status_bar(odd, "zh")
