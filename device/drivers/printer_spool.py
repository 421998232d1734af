"""The printer's persistent job spool: jobs survive restarts, and a job id prints at most once.

Each pending job is one file written to a temporary name, fsynced, then renamed into place
(and the directory fsynced), so a power cut leaves either the whole job or none of it. Printed
job ids go to an append-only done log, also fsynced, kept to a bounded history.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from device.drivers.errors import SpoolError

MAGIC = b"POSJOB1 "
MAX_JOB_ID = 200
MAX_JOB_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PrintJob:
    """One print job: a caller-chosen id (e.g. "receipt:S01-T02-20261123-0042") and its bytes."""

    job_id: str
    data: bytes

    def __post_init__(self) -> None:
        if not self.job_id or len(self.job_id) > MAX_JOB_ID:
            raise SpoolError(
                f"print job id must be 1..{MAX_JOB_ID} characters, not {self.job_id!r}"
            )
        if any(ch in self.job_id for ch in "\r\n\x00"):
            raise SpoolError(f"print job id must not contain line breaks: {self.job_id!r}")
        if not isinstance(self.data, bytes) or not self.data:
            raise SpoolError(f"print job {self.job_id!r} has no bytes to print")
        if len(self.data) > MAX_JOB_BYTES:
            raise SpoolError(
                f"print job {self.job_id!r} is {len(self.data)} bytes; the limit is {MAX_JOB_BYTES}"
            )


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JobSpool:
    """Pending jobs in submit order plus the set of recently printed job ids."""

    def __init__(self, directory: str, done_history: int = 2000) -> None:
        if done_history < 1:
            raise SpoolError(f"done history must keep at least one job id, not {done_history}")
        self.directory = directory
        self.done_history = done_history
        self._jobs_dir = os.path.join(directory, "jobs")
        self._corrupt_dir = os.path.join(directory, "corrupt")
        self._done_path = os.path.join(directory, "done.log")
        self._lock = threading.RLock()
        try:
            os.makedirs(self._jobs_dir, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create print spool {directory}: {exc.strerror}") from exc
        self._done: OrderedDict[str, None] = OrderedDict()
        self._done_lines = 0
        self._load_done()

    def _load_done(self) -> None:
        try:
            with open(self._done_path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SpoolError(f"cannot read {self._done_path}: {exc.strerror}") from exc
        # A torn last line (power cut mid-append) has no newline and is ignored.
        for line in raw.split(b"\n")[:-1]:
            job_id = line.decode("utf-8", errors="replace")
            if job_id:
                self._done[job_id] = None
                self._done.move_to_end(job_id)
                self._done_lines += 1
        while len(self._done) > self.done_history:
            self._done.popitem(last=False)

    def _name(self, seq: int, job_id: str) -> str:
        digest = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:20]
        return f"{seq:012d}-{digest}.job"

    def _files(self) -> list[str]:
        try:
            names = os.listdir(self._jobs_dir)
        except OSError as exc:
            raise SpoolError(f"cannot list print spool {self._jobs_dir}: {exc.strerror}") from exc
        return sorted(n for n in names if n.endswith(".job"))

    def _read(self, name: str) -> PrintJob | None:
        path = os.path.join(self._jobs_dir, name)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            header, sep, data = raw.partition(b"\n")
            if not sep or not header.startswith(MAGIC):
                raise ValueError("bad header")
            return PrintJob(header[len(MAGIC) :].decode("utf-8"), data)
        except (OSError, ValueError, SpoolError):
            # Keep the bytes for a technician rather than deleting them.
            os.makedirs(self._corrupt_dir, exist_ok=True)
            with contextlib.suppress(OSError):
                os.replace(path, os.path.join(self._corrupt_dir, name))
            return None

    def _find(self, job_id: str) -> str | None:
        suffix = self._name(0, job_id)[12:]
        for name in self._files():
            if name.endswith(suffix):
                job = self._read(name)
                if job is not None and job.job_id == job_id:
                    return name
        return None

    def is_done(self, job_id: str) -> bool:
        """True when this job id was printed (within the kept history)."""
        with self._lock:
            return job_id in self._done

    def state(self, job_id: str) -> str:
        """ "done", "pending" or "unknown"."""
        with self._lock:
            if job_id in self._done:
                return "done"
            return "pending" if self._find(job_id) else "unknown"

    def submit(self, job: PrintJob) -> bool:
        """Queue a job durably; False (and nothing queued) when its id is pending or printed."""
        with self._lock:
            if job.job_id in self._done or self._find(job.job_id):
                return False
            files = self._files()
            seq = int(files[-1][:12]) + 1 if files else 1
            name = self._name(seq, job.job_id)
            tmp = os.path.join(self.directory, f".{name}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(MAGIC + job.job_id.encode("utf-8") + b"\n" + job.data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, os.path.join(self._jobs_dir, name))
                _fsync_dir(self._jobs_dir)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise SpoolError(
                    f"cannot store print job {job.job_id!r} in {self.directory}: {exc.strerror}"
                ) from exc
            return True

    def pending(self) -> list[PrintJob]:
        """Jobs not yet printed, oldest first."""
        with self._lock:
            jobs = (self._read(name) for name in self._files())
            return [job for job in jobs if job is not None]

    def count(self) -> int:
        """How many jobs are waiting (without reading them)."""
        with self._lock:
            return len(self._files())

    def next(self) -> PrintJob | None:
        """The oldest pending job, or None."""
        with self._lock:
            for name in self._files():
                job = self._read(name)
                if job is not None:
                    return job
            return None

    def mark_done(self, job_id: str) -> None:
        """Record the job as printed (durably), then drop its file."""
        with self._lock:
            try:
                with open(self._done_path, "ab") as fh:
                    fh.write(job_id.encode("utf-8") + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise SpoolError(f"cannot record printed job {job_id!r}: {exc.strerror}") from exc
            self._done[job_id] = None
            self._done.move_to_end(job_id)
            self._done_lines += 1
            while len(self._done) > self.done_history:
                self._done.popitem(last=False)
            name = self._find(job_id)
            if name is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self._jobs_dir, name))
                _fsync_dir(self._jobs_dir)
            if self._done_lines > 2 * self.done_history:
                self._compact()

    def _compact(self) -> None:
        tmp = self._done_path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(b"".join(job_id.encode("utf-8") + b"\n" for job_id in self._done))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._done_path)
        _fsync_dir(self.directory)
        self._done_lines = len(self._done)
