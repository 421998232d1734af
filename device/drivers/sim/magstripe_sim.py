"""A serial magnetic-stripe reader on the far end of a pty: swipes as track text, optional LRC."""

from __future__ import annotations

from device.drivers.magstripe import encode_swipe
from device.drivers.sim.pty import SerialSimulator


class MagstripeSim(SerialSimulator):
    """Sends each swipe as track 1 + track 2 with sentinels (and LRC if set), then CR."""

    def __init__(
        self, link_path: str | None = None, with_lrc: bool = False, cr_per_track: bool = False
    ) -> None:
        super().__init__(link_path)
        self.with_lrc = with_lrc
        self.cr_per_track = cr_per_track  # readers set to end every track with CR

    def swipe(self, pan: str, name: str = "", expiry: str = "4912") -> None:
        """A clean swipe of a card with this number."""
        text = encode_swipe(pan, name, expiry, self.with_lrc)
        if self.cr_per_track:
            text = text.replace(";", "\r;", 1)
        self.send(text.encode("ascii") + b"\r")

    def swipe_raw(self, text: str) -> None:
        """A swipe exactly as given (a badly swiped card, a reader glitch), then CR."""
        self.send(text.encode("latin-1") + b"\r")
