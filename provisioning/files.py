"""Write files the way secrets need: created owner-only, owned by the service user, atomically.

A file holding a key or a password is never world-readable, not even for the moment between
creating and chmod-ing it: it is created with mode 0600 (O_CREAT with the mode, umask can only
remove bits), written to a temporary name beside the target, fsynced, given its owner, and
renamed over the target, so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from provisioning.errors import ProvisioningError

PRIVATE: Final = 0o600
PUBLIC: Final = 0o644
PRIVATE_DIR: Final = 0o700
PUBLIC_DIR: Final = 0o755


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns what is written: a uid/gid pair (None: leave as the writing process)."""

    uid: int | None = None
    gid: int | None = None

    def apply(self, path: Path) -> None:
        """chown path to this owner (only when running as root, where it is allowed)."""
        if self.uid is None and self.gid is None:
            return
        os.chown(path, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)


NOBODY_CHANGE: Final = Owner()


def write_bytes(
    path: Path, data: bytes, *, mode: int = PRIVATE, owner: Owner = NOBODY_CHANGE
) -> Path:
    """Write data to path atomically with exactly this mode and owner; return path."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    except OSError as err:
        raise ProvisioningError(f"cannot write {path}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # a tmp left by a crash may have had other bits
        owner.apply(tmp)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ProvisioningError(f"cannot write {path}: {err.strerror}") from None
    return path


def write_text(path: Path, text: str, *, mode: int = PRIVATE, owner: Owner = NOBODY_CHANGE) -> Path:
    """write_bytes for UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"), mode=mode, owner=owner)


def make_dir(path: Path, *, mode: int = PUBLIC_DIR, owner: Owner = NOBODY_CHANGE) -> Path:
    """Create path (and parents) if missing, then give it exactly this mode and owner."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        owner.apply(path)
    except OSError as err:
        raise ProvisioningError(f"cannot create directory {path}: {err.strerror}") from None
    return path
