"""Secret files: owner-only from the moment they exist, owned by the service user, atomic."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provisioning import files
from provisioning.errors import ProvisioningError


def test_a_secret_is_created_owner_only_even_with_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = files.write_text(tmp_path / "a" / "terminal.toml", 'password = "x"\n')
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == 'password = "x"\n'


def test_rewriting_a_world_readable_file_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "terminal.toml"
    path.write_text("old")
    path.chmod(0o644)
    files.write_text(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["terminal.toml"]  # no temporary left


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_secret_is_given_to_the_service_user(tmp_path: Path) -> None:
    path = files.write_bytes(tmp_path / "device.key", b"k", owner=files.Owner(65534, 65534))
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ProvisioningError, match="cannot"):
        files.write_text(blocker / "x.toml", "x")
