"""The print spool on a real directory: durable, ordered, idempotent by job id, bounded."""

from __future__ import annotations

import os

import pytest

from device.drivers.errors import SpoolError
from device.drivers.printer_spool import JobSpool, PrintJob


def test_jobs_survive_reopening_in_submit_order(tmp_path) -> None:
    spool = JobSpool(str(tmp_path))
    for i in range(3):
        assert spool.submit(PrintJob(f"job-{i}", f"data {i}".encode()))
    reopened = JobSpool(str(tmp_path))
    assert [(j.job_id, j.data) for j in reopened.pending()] == [
        ("job-0", b"data 0"),
        ("job-1", b"data 1"),
        ("job-2", b"data 2"),
    ]


def test_done_ids_are_refused_even_after_reopening(tmp_path) -> None:
    spool = JobSpool(str(tmp_path))
    spool.submit(PrintJob("receipt:1", b"x"))
    spool.mark_done("receipt:1")
    assert spool.pending() == []
    assert not spool.submit(PrintJob("receipt:1", b"x"))
    assert not JobSpool(str(tmp_path)).submit(PrintJob("receipt:1", b"x"))
    assert JobSpool(str(tmp_path)).state("receipt:1") == "done"


def test_history_is_bounded_and_compacted(tmp_path) -> None:
    spool = JobSpool(str(tmp_path), done_history=3)
    for i in range(10):
        spool.submit(PrintJob(f"j{i}", b"x"))
        spool.mark_done(f"j{i}")
    reopened = JobSpool(str(tmp_path), done_history=3)
    assert [reopened.is_done(f"j{i}") for i in range(10)] == [False] * 7 + [True] * 3
    with open(tmp_path / "done.log", "rb") as fh:
        assert len(fh.read().splitlines()) <= 6


def test_torn_done_log_line_is_ignored(tmp_path) -> None:
    spool = JobSpool(str(tmp_path))
    spool.submit(PrintJob("a", b"x"))
    spool.mark_done("a")
    with open(tmp_path / "done.log", "ab") as fh:
        fh.write(b"half-writt")  # power cut mid-append: no newline
    reopened = JobSpool(str(tmp_path))
    assert reopened.is_done("a") and not reopened.is_done("half-writt")


def test_corrupt_job_file_is_set_aside_not_lost(tmp_path) -> None:
    spool = JobSpool(str(tmp_path))
    spool.submit(PrintJob("good", b"x"))
    with open(tmp_path / "jobs" / "000000000000-bad.job", "wb") as fh:
        fh.write(b"garbage without header")
    assert [j.job_id for j in spool.pending()] == ["good"]
    assert os.listdir(tmp_path / "corrupt") == ["000000000000-bad.job"]


@pytest.mark.parametrize(
    ("job_id", "data", "reason"),
    [
        ("", b"x", "1..200"),
        ("a\nb", b"x", "line breaks"),
        ("ok", b"", "no bytes"),
        ("x" * 201, b"x", "1..200"),
    ],
)
def test_bad_jobs_are_refused_with_a_reason(job_id: str, data: bytes, reason: str) -> None:
    with pytest.raises(SpoolError, match=reason):
        PrintJob(job_id, data)


def test_unwritable_spool_directory_is_a_spool_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(SpoolError, match="cannot create print spool"):
        JobSpool(str(blocker / "spool"))
