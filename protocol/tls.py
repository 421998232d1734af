"""The TLS identity a client presents to the broker, reloaded from its files before each connect.

A terminal's certificate is rotated, and a cloud service's renewed, by writing new files in
place (key first, then certificate, each replaced atomically). A TLS handshake happens only
at connect, so a live connection keeps working on the old certificate, but a client that
loaded its files once would reconnect with it after a network blip, until a restart, and
once the old certificate is past its grace period (on the CRL) or expired, the broker
refuses it for good. So the client checks its files before every connect, and loads them
when they changed. A pair caught half written (the new key beside the old certificate) is
not loaded: the previous one stays in use and the files are tried again at the next connect.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

log = logging.getLogger(__name__)


class IdentityFilesError(Exception):
    """The certificate or key files cannot be loaded (missing, damaged or not a pair)."""


@dataclass(slots=True)
class ClientIdentity:
    """An SSL context trusting ca_file, presenting cert_file/key_file as they are on disk."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    context: ssl.SSLContext = field(init=False)
    #: Why the files on disk were last refused ("" once a pair loads): shown with a refusal.
    problem: str = field(init=False, default="")
    _stamp: tuple[int, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the broker's name
        try:
            self.context.load_verify_locations(self.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise IdentityFilesError(f"cannot load the CA file {self.ca_file}: {err}") from None
        self.refresh()

    def refresh(self) -> bool:
        """Load the certificate and key if their files changed; True if a new pair was loaded."""
        if self.cert_file is None:
            return False
        stamp = self._files_stamp()
        if stamp == self._stamp:
            return False
        # Check the pair on a scratch context first: a failed load can leave a context with a
        # certificate and no matching key, and the loaded pair must stay usable.
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(self.cert_file, self.key_file)
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as err:
            raise IdentityFilesError(
                f"cannot load the client certificate {self.cert_file} with its key "
                f"{self.key_file or self.cert_file}: {err}"
            ) from None
        self._stamp, self.problem = stamp, ""
        return True

    def _files_stamp(self) -> tuple[int, ...]:
        out: list[int] = []
        for path in (self.cert_file, self.key_file):
            if path is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                return (-1,)  # unreadable now: differs from any loaded stamp, so load says why
            out += [st.st_ino, st.st_mtime_ns, st.st_size]
        return tuple(out)

    def before_connect(self, _client: Any = None, _userdata: Any = None) -> None:
        """paho's on_pre_connect: take new files; keep the loaded pair if they can't be used."""
        try:
            if self.refresh():
                log.info("client certificate %s loaded", self.cert_file)
        except IdentityFilesError as err:
            # The pair is mid-replacement or damaged: the loaded one still works until its
            # grace period ends, and the next connect tries the files again.
            self.problem = f"{err}; still using the certificate loaded before"
            log.warning("%s", self.problem)


def certificate_end(cert_file: str | None) -> dt.datetime | None:
    """When the certificate in cert_file ends (UTC); None without a file or if unreadable."""
    if cert_file is None:
        return None
    try:
        with open(cert_file, "rb") as fh:
            return x509.load_pem_x509_certificate(fh.read()).not_valid_after_utc
    except (OSError, ValueError):
        return None  # the connect itself says what is wrong with the file
