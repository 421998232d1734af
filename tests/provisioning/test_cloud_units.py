"""`fleet units` on a real fleet: the units pass systemd's checks and what they start runs.

The broker, both ingest workers, HQ and the jobs scheduler are started from exactly the
ExecStart lines written (with the database URL from the environment file the units name),
and must reach the broker with their own certificates and share one database; `fleet apply`
from its unit must reload that broker.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.ingest.__main__ import parse_args as ingest_args
from cloud.jobs.__main__ import parse_args as jobs_args
from cloud.jobs.runs import recent
from cloud.store.db import open_cloud_db, utcnow
from cloud.store.workers import worker_states
from provisioning import ports
from provisioning.cli import build_parser
from provisioning.fleet import Fleet
from tests.provisioning.fleet_support import cli

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["pos-broker.service", "pos-ingest.service", "pos-ingest-2.service",
            "pos-hq.service", "pos-jobs.service", "pos-fleet-apply.service"]  # fmt: skip
ALL = [*SERVICES, "pos-fleet-apply.timer"]


def _until(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.1)


def _init(fleet: Path, hq_port: int) -> None:
    done = cli("fleet", "init", "--fleet", str(fleet), "--port", str(ports.free_ports(1)[0]),
               "--ingest-workers", "2", "--hq-url", f"http://127.0.0.1:{hq_port}")  # fmt: skip
    assert done.code == 0, done.err


def _units(fleet: Path, dest: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli("fleet", "units", "--fleet", str(fleet), "--dest", str(dest), *extra)


def _sections(path: Path) -> dict[str, list[str]]:
    """A unit file as {"Section.Key": [values]}, continuation lines joined as systemd does."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(f"{section}.{key}", []).append(value)
    return out


def _argv(unit: dict[str, list[str]]) -> tuple[list[str], dict[str, str]]:
    """The ExecStart command line with ${VAR}s from the unit's environment file, and that env."""
    env = {}
    for line in Path(unit["Service.EnvironmentFile"][0]).read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = shlex.split(value)[0]
    argv = shlex.split(unit["Service.ExecStart"][0])
    for key, value in env.items():
        argv = [value if a == f"${{{key}}}" else a for a in argv]
    assert not [a for a in argv if "$" in a], argv  # every variable came from the file
    return argv, env


@pytest.fixture
def written(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """A fleet from `fleet init` (two ingest workers) and its units from `fleet units`."""
    fleet, dest, hq_port = tmp_path / "fleet", tmp_path / "systemd", ports.free_ports(1)[0]
    _init(fleet, hq_port)
    dest.mkdir()
    done = _units(fleet, dest, "--db", f"sqlite:///{tmp_path / 'cloud.db'}")
    assert done.code == 0, done.err
    assert "systemctl daemon-reload && systemctl enable --now pos-broker.service" in done.out
    assert "pos-fleet-apply.timer" in done.out.splitlines()[-2]
    yield fleet, dest, hq_port


def test_the_units_pass_systemd_analyze_verify(written: tuple[Path, Path, int]) -> None:
    _fleet, dest, _ = written
    assert sorted(p.name for p in dest.iterdir()) == sorted(ALL)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(dest / n) for n in ALL)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if any(n in line for n in ALL)]
    assert done.returncode == 0 and problems == [], done.stderr
    for name in ALL:
        assert stat.S_IMODE((dest / name).stat().st_mode) == 0o644, name


def test_the_timer_renews_the_crl_daily_and_catches_up(written: tuple[Path, Path, int]) -> None:
    _fleet, dest, _ = written
    timer = _sections(dest / "pos-fleet-apply.timer")
    assert timer["Timer.OnCalendar"] == ["daily"]
    assert timer["Timer.Persistent"] == ["true"]
    assert timer["Timer.RandomizedDelaySec"]
    assert timer["Timer.Unit"] == ["pos-fleet-apply.service"]
    assert timer["Install.WantedBy"] == ["timers.target"]
    apply = _sections(dest / "pos-fleet-apply.service")
    assert apply["Service.Type"] == ["oneshot"]


def test_the_services_follow_the_broker_and_it_reloads_as_fleet_apply_does(
    written: tuple[Path, Path, int],
) -> None:
    _fleet, dest, _ = written
    broker = _sections(dest / "pos-broker.service")
    assert broker["Service.Restart"] == ["on-failure"]
    assert broker["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for name in ("pos-ingest.service", "pos-ingest-2.service", "pos-hq.service",
                 "pos-jobs.service"):  # fmt: skip
        unit = _sections(dest / name)
        assert "pos-broker.service" in unit["Unit.After"][0].split(), name
        assert "pos-broker.service" in unit["Unit.Wants"][0].split(), name
        assert unit["Service.Restart"] == ["always"], name


def test_each_command_line_names_existing_files_and_its_parser_accepts_it(
    written: tuple[Path, Path, int], tmp_path: Path
) -> None:
    fleet, dest, hq_port = written
    urls = set()
    for name in SERVICES:
        unit = _sections(dest / name)
        argv, env = _argv(unit) if "Service.EnvironmentFile" in unit else (
            shlex.split(unit["Service.ExecStart"][0]), {})  # fmt: skip
        urls.update(env.values())
        for arg in argv:
            if arg.startswith("/"):
                assert Path(arg).exists(), f"{name} names {arg}, which does not exist"
        if "Service.WorkingDirectory" in unit:
            assert Path(unit["Service.WorkingDirectory"][0]).is_dir(), name
        program, args = argv[2:3], argv[3:]
        # Each program's own parser: a renamed or misspelt flag fails here.
        if program == ["cloud.ingest"]:
            parsed = ingest_args(args)
            identity = name.removeprefix("pos-").removesuffix(".service")
            assert parsed.client_id == identity
            assert parsed.tls_cert == str(Fleet.open(fleet).service_pair(identity).cert)
        elif program == ["cloud.jobs"]:
            assert jobs_args(args).command == "run"
        elif program == ["provisioning"]:
            parsed = build_parser().parse_args(args)
            assert (parsed.group, parsed.command, parsed.fleet) == ("fleet", "apply", fleet)
        elif program == ["cloud.api"]:
            assert args[args.index("--port") + 1] == str(hq_port)  # from the fleet's hq_url
        else:
            assert name == "pos-broker.service" and argv[1:] == [
                "-c",
                str(fleet / "broker" / "mosquitto.conf"),
            ]
    # ingest and HQ on one database: the one given, from an owner-only file.
    assert urls == {f"sqlite:///{tmp_path / 'cloud.db'}"}
    assert stat.S_IMODE((fleet / "services" / "cloud.env").stat().st_mode) == 0o600


def test_what_the_units_start_runs_together(written: tuple[Path, Path, int]) -> None:
    fleet, dest, hq_port = written
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        unit = _sections(dest / name)
        argv, env = _argv(unit) if "Service.EnvironmentFile" in unit else (
            shlex.split(unit["Service.ExecStart"][0]), {})  # fmt: skip
        log = open(dest.parent / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            argv, cwd=unit.get("Service.WorkingDirectory", ["/"])[0], env={**os.environ, **env},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        procs.append(proc)
        return proc

    def alive() -> None:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[:4]} exited: {_logs(dest)}"

    def health() -> bool:
        alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hq_port}/api/health", timeout=2):
                return True
        except OSError:
            return False

    the_fleet = Fleet.open(fleet)
    try:
        start("pos-broker.service")
        _until(lambda: the_fleet.broker_pid() is not None, "the broker's pid file")
        for name in SERVICES[1:5]:
            start(name)
        _until(health, "HQ answering /api/health")
        hq_argv, _ = _argv(_sections(dest / "pos-hq.service"))
        cdb = open_cloud_db(hq_argv[hq_argv.index("--db") + 1])  # the database HQ reads
        try:

            def workers_connected() -> bool:
                alive()
                states = {w["client_id"]: w for w in worker_states(cdb, utcnow())}
                return all(states.get(i, {}).get("connected") for i in ("ingest", "ingest-2"))

            _until(workers_connected, "both ingest workers connected, in HQ's database")
            _until(lambda: alive() or recent(cdb, None, 5), "a scheduled job run recorded")
        finally:
            cdb.close()
        # The daily apply, from its unit, reloads this broker (a new CRL).
        reloads = the_fleet.log_file.read_text().count("Reloading config")
        unit = _sections(dest / "pos-fleet-apply.service")
        done = subprocess.run(shlex.split(unit["Service.ExecStart"][0]), capture_output=True,
                              text=True, check=False, timeout=120,
                              cwd=unit["Service.WorkingDirectory"][0])  # fmt: skip
        assert done.returncode == 0, done.stderr
        _until(lambda: the_fleet.log_file.read_text().count("Reloading config") > reloads,
               "the broker reloading after fleet apply")  # fmt: skip
        # So does systemctl reload: ExecReload signals the process the unit started.
        reload = _sections(dest / "pos-broker.service")["Service.ExecReload"][0]
        reloads += 1
        argv = [str(procs[0].pid) if a == "$MAINPID" else a for a in shlex.split(reload)]
        subprocess.run(argv, check=True, timeout=30)
        _until(lambda: the_fleet.log_file.read_text().count("Reloading config") > reloads,
               "the broker reloading on ExecReload")  # fmt: skip
        alive()
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _logs(dest: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                     for p in sorted(dest.parent.glob("*.log")))  # fmt: skip


def test_running_again_keeps_every_file_and_repairs_a_changed_one(
    written: tuple[Path, Path, int], tmp_path: Path
) -> None:
    fleet, dest, _ = written
    before = {n: (dest / n).read_text() for n in ALL}
    (dest / "pos-hq.service").write_text("edited by hand")
    again = _units(fleet, dest, "--db", f"sqlite:///{tmp_path / 'cloud.db'}")
    assert again.code == 0, again.err
    assert "wrote pos-hq.service; kept " in again.out
    kept = again.out.split("; kept ", 1)[1]
    for name in ALL:
        assert (dest / name).read_text() == before[name], name
        if name != "pos-hq.service":
            assert name in kept, name
    assert "database setting" in again.out and "... kept" in again.out


def test_a_worker_taken_out_of_the_settings_is_named_not_deleted(
    written: tuple[Path, Path, int], tmp_path: Path
) -> None:
    fleet, dest, _ = written
    done = cli("fleet", "init", "--fleet", str(fleet), "--ingest-workers", "1")
    assert done.code == 0, done.err
    again = _units(fleet, dest, "--db", f"sqlite:///{tmp_path / 'cloud.db'}")
    assert again.code == 0, again.err
    assert "pos-ingest-2.service is no longer in the fleet's ingest_workers" in again.out
    assert "--retire --client-id ingest-2" in again.out
    assert (dest / "pos-ingest-2.service").exists()
    assert "pos-ingest-2.service" not in again.out.split("enable --now", 1)[1].splitlines()[0]


def test_the_default_database_is_the_services_own_in_full(tmp_path: Path) -> None:
    fleet, dest = tmp_path / "fleet", tmp_path / "systemd"
    _init(fleet, ports.free_ports(1)[0])
    dest.mkdir()
    assert _units(fleet, dest).code == 0
    _, env = _argv(_sections(dest / "pos-ingest.service"))
    # The services read cloud.store.db's default (sqlite:///var/cloud.db) in the checkout.
    assert env == {"DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'cloud.db'}"}
    assert ingest_args([]).db == env["DATABASE_URL"]


def test_fleet_init_names_one_database_in_full_in_every_command(tmp_path: Path) -> None:
    done = cli("fleet", "init", "--fleet", str(tmp_path / "fleet"),
               "--port", str(ports.free_ports(1)[0]))  # fmt: skip
    assert done.code == 0, done.err
    words = done.out.replace("\\\n", " ").split()
    starts = [i for i, w in enumerate(words) if w in ("cloud.ingest", "cloud.api")]
    assert len(starts) == 4  # ingest, HQ, the store and the technician's token
    dbs = {words[i + 2] for i in starts if words[i + 1] == "--db"}
    assert dbs == {f"sqlite:///{ROOT / 'var' / 'cloud.db'}"}, done.out
    units = words.index("units")
    assert words[units + 3 : units + 5] == ["--db", *dbs]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fleet", "{tmp}/nowhere"], "no fleet at"),
        (["--dest", "{tmp}/missing"], "is not a directory"),
        (["--user", "no-such-user-here"], "--user 'no-such-user-here' does not exist here"),
        (["--db", "mysql://x/y"], "expected sqlite:///path/to.db or postgresql://"),
        (["--listen", "hq.example.com:80"], "expected IP:PORT"),
        (["--python", "python3"], "not an executable given by its full path"),
        (["--app-dir", "{tmp}"], "is not the product checkout"),
        (["--jobs-config", "{tmp}/jobs.toml"], "cannot read"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix_and_writes_nothing(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    fleet, dest = tmp_path / "fleet", tmp_path / "systemd"
    _init(fleet, ports.free_ports(1)[0])
    dest.mkdir()
    args = {"--fleet": str(fleet), "--dest": str(dest)}
    args.update(dict(zip(argv[::2], (a.format(tmp=tmp_path) for a in argv[1::2]), strict=True)))
    done = cli("fleet", "units", *(x for kv in args.items() for x in kv))
    assert done.code != 0
    assert message in done.err, done.err
    assert list(dest.iterdir()) == []
    assert not (fleet / "services" / "cloud.env").exists()


def _checkout_closed_to_others() -> str:
    """Why another user cannot run this checkout's Python ("" if it can): a 0700 parent."""
    for directory in (ROOT, *ROOT.parents):
        if not directory.stat().st_mode & 0o001:
            return f"{directory} is closed to other users, who cannot run this checkout"
    return ""


def test_a_user_who_cannot_write_the_destination_or_read_the_fleet_is_told(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the tool as another user")
    if why := _checkout_closed_to_others():
        pytest.skip(why)
    fleet = tmp_path / "fleet"  # under pytest's directory, 0700 root: nobody cannot read it
    _init(fleet, ports.free_ports(1)[0])

    def as_nobody(dest: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             str(ROOT / ".venv" / "bin" / "python"), "-m", "provisioning", "fleet", "units",
             "--fleet", str(fleet), "--dest", str(dest)],
            capture_output=True, text=True, check=False, timeout=60, cwd=ROOT,
        )  # fmt: skip

    dest = Path(tempfile.mkdtemp(prefix="pos-units-"))  # root's, 0700: nobody cannot write
    try:
        done = as_nobody(dest)
        assert done.returncode == 1, done.stderr
        assert f"error: --dest {dest} is not writable" in done.stderr, done.stderr
        os.chmod(dest, 0o777)
        done = as_nobody(dest)
        assert done.returncode == 1, done.stderr
        assert f"error: cannot read {fleet}/fleet.toml (Permission denied)" in done.stderr
        assert list(dest.iterdir()) == []
    finally:
        shutil.rmtree(dest)


def test_a_service_user_gets_its_keys_and_a_closed_fleet_directory_is_named() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand keys to another user")
    if why := _checkout_closed_to_others():
        pytest.skip(why)  # the tool refuses a service user who could not run the services
    top = Path(tempfile.mkdtemp(prefix="pos-fleet-"))  # not under pytest's 0700 directory
    try:
        os.chmod(top, 0o755)
        fleet, dest = top / "fleet", top / "systemd"
        _init(fleet, ports.free_ports(1)[0])
        dest.mkdir()
        refused = _units(fleet, dest, "--user", "nobody")
        assert refused.code == 1
        assert f"--user nobody could not open {fleet}/ca/ca.crt: {fleet} is drwx------" in (
            refused.err
        )
        assert list(dest.iterdir()) == []
        os.chmod(fleet, 0o711)  # passable, not listable; every key stays 0600
        done = _units(fleet, dest, "--user", "nobody")
        assert done.code == 0, done.err
        nobody = 65534
        for identity in ("ingest", "ingest-2", "hq", "jobs"):
            assert (fleet / "services" / f"{identity}.key").stat().st_uid == nobody, identity
            assert _sections(dest / f"pos-{identity}.service")["Service.User"] == ["nobody"]
        assert (fleet / "services" / "admin.key").stat().st_uid == 0  # not the services'
        assert "Service.User" not in _sections(dest / "pos-fleet-apply.service")  # root's CA
    finally:
        shutil.rmtree(top)


def test_the_broker_runs_as_the_fleets_broker_user_once_it_can_reach_its_files() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the broker's files to another user")
    top = Path(tempfile.mkdtemp(prefix="pos-fleet-"))  # not under pytest's 0700 directory
    proc = None
    try:
        os.chmod(top, 0o755)
        fleet, dest = top / "fleet", top / "systemd"
        done = cli("fleet", "init", "--fleet", str(fleet), "--port", str(ports.free_ports(1)[0]),
                   "--broker-user", "nobody")  # fmt: skip
        assert done.code == 0, done.err
        dest.mkdir()
        refused = _units(fleet, dest)
        assert refused.code == 1
        assert f"the broker user nobody could not open {fleet}/broker/mosquitto.conf: " in (
            refused.err
        )
        assert f"chmod o+x {fleet} " in refused.err
        assert list(dest.iterdir()) == []
        os.chmod(fleet, 0o711)
        assert _units(fleet, dest).code == 0
        unit = _sections(dest / "pos-broker.service")
        assert unit["Service.User"] == ["nobody"]
        # As systemd would start it: as that user, from the ExecStart line.
        proc = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             *shlex.split(unit["Service.ExecStart"][0])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        the_fleet = Fleet.open(fleet)

        def running() -> bool:
            assert proc is not None and proc.poll() is None, the_fleet.log_file.read_text()
            return the_fleet.broker_pid() is not None

        _until(running, "the broker running as nobody")
        assert the_fleet.pid_file.stat().st_uid == 65534
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(top)


def test_a_jobs_config_reaches_the_scheduler_and_hq(tmp_path: Path) -> None:
    fleet, dest, config = tmp_path / "fleet", tmp_path / "systemd", tmp_path / "jobs.toml"
    _init(fleet, ports.free_ports(1)[0])
    dest.mkdir()
    config.write_text('timezone = "Asia/Shanghai"\nretry_after = "10m"\n')
    assert _units(fleet, dest, "--jobs-config", str(config)).code == 0
    jobs, _ = _argv(_sections(dest / "pos-jobs.service"))
    assert jobs_args(jobs[3:]).config == str(config)
    hq, _ = _argv(_sections(dest / "pos-hq.service"))
    assert hq[hq.index("--jobs-config") + 1] == str(config)
    config.write_text('retry_after = "soon"\n')  # refused with the key, as the scheduler would
    bad = _units(fleet, dest, "--jobs-config", str(config))
    assert bad.code == 1 and "retry_after" in bad.err, bad.err
