"""`terminal add | revoke | retire | register | list` (rotate: cmd_rotate): a terminal's life.

`add` is safe to run again: a half-done run is finished from where it stopped (the registry
records each step), and a failure before HQ has accepted the terminal leaves nothing behind.
The device key is generated into the terminal's root and only its signing request reaches
the fleet CA.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from protocol.problems import Said
from provisioning import certs, cmd_terminal_list, files, hq
from provisioning.cli import Progress, fleet_dir_arg
from provisioning.errors import FleetError
from provisioning.fleet import (
    Fleet,
    TerminalRecord,
    check_ids,
    verify_issued_by,
)
from provisioning.fleet_status import publish_reason, read_status
from provisioning.terminal_root import (
    CERT_PENDING,
    DEFAULT_USER,
    KEY_PENDING,
    Layout,
    check_writable,
    holds_store_name,
    kept_settings,
    remove_credentials,
    root_holder,
    service_owner,
    simulated_parts,
    terminal_config,
    write_files,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `terminal` group."""
    group = sub.add_parser("terminal", help="add, rotate, revoke, retire and list terminals")
    cmds = group.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    add = cmds.add_parser(
        "add", help="provision a terminal: identity, HQ registration, config, service, units",
        description="Turn a blank root into a store's terminal. Safe to run again: a half-done "
        "run is finished, a finished one only rewrites config and units.",
    )  # fmt: skip
    _common(add, root_required=True)
    add.add_argument(
        "--image",
        action="store_true",
        help="the root is a mounted SD card: write paths as the Pi will see them",
    )
    add.add_argument("--user", default=DEFAULT_USER, help="the service user (default: pos)")
    add.add_argument(
        "--store-name",
        help="the store's name at the top of every receipt, "
        "e.g. 徐汇店 (needed the first time; a later run keeps it unless given)",
    )
    add.add_argument("--store-name-en", help="the same on English receipts (default: "
                     "--store-name)")  # fmt: skip
    add.add_argument("--hq-url", help="the HQ API (default: from the fleet settings)")
    add.add_argument(
        "--token",
        default=os.environ.get(hq.TOKEN_ENV, ""),
        help=f"a technician's HQ token (default: ${hq.TOKEN_ENV})",
    )
    add.add_argument("--days", type=int, default=certs.LEAF_DAYS, help="certificate lifetime")
    add.add_argument(
        "--skip-hq",
        action="store_true",
        help="do not register with HQ now (bench or demo without HQ); "
        "`terminal register` does it later",
    )
    add.add_argument("--python", help="interpreter named in the units (default: this one)")
    add.add_argument("--app-dir", help="the product checkout named in the units")
    add.set_defaults(run=run_add)

    # Here, not at the top: cmd_rotate uses this module's helpers, so it imports it first.
    from provisioning import cmd_rotate

    cmd_rotate.register(cmds)

    revoke = cmds.add_parser("revoke", help="refuse this terminal at the broker, now")
    _common(revoke)
    revoke.add_argument("--reason", required=True, help="shown at HQ, e.g. 'stolen'")
    revoke.set_defaults(run=run_revoke)

    retire = cmds.add_parser("retire", help="remove a terminal's credentials and rights")
    _common(retire)
    retire.add_argument(
        "--force",
        action="store_true",
        help="retire although it still has unsynced sales (they are lost)",
    )
    retire.set_defaults(run=run_retire)

    reg = cmds.add_parser(
        "register", help="register a terminal added with --skip-hq at HQ, or (with --root) "
        "record its current certificate there",
    )  # fmt: skip
    _common(reg)
    reg.add_argument("--hq-url")
    reg.add_argument("--token", default=os.environ.get(hq.TOKEN_ENV, ""))
    reg.set_defaults(run=run_register)

    cmd_terminal_list.register(cmds)


def _common(p: argparse.ArgumentParser, root_required: bool = False) -> None:
    fleet_dir_arg(p)
    p.add_argument("--terminal", required=True, help="terminal id, e.g. S001-T03")
    if p.prog.endswith(" add"):
        p.add_argument("--store", required=True, help="store id, e.g. S001")
    p.add_argument(
        "--root",
        type=Path,
        required=root_required,
        help="the terminal's root: / on the Pi, a mounted SD card, or a directory",
    )


def _record(fleet: Fleet, terminal_id: str) -> TerminalRecord:
    rec = fleet.registry().terminals.get(terminal_id)
    if rec is None:
        raise FleetError(f"terminal {terminal_id} is not in the fleet at {fleet.root}")
    return rec


def run_add(args: argparse.Namespace, progress: Progress) -> int:
    """terminal add."""
    progress.total = 7
    fleet = Fleet.open(args.fleet.resolve())
    with fleet.locked():
        return _add(fleet, args, progress)


def _add(fleet: Fleet, args: argparse.Namespace, progress: Progress) -> int:
    sid, tid = args.store, args.terminal
    layout = Layout(args.root.resolve(), image=args.image)
    progress.step("checking the fleet, the root and the ids")
    check_ids(sid, tid)
    check_writable(layout.root)
    holder = root_holder(layout)
    if holder is not None and holder[0] != tid:
        other, state = holder
        raise FleetError(
            f"--root {layout.root} already holds terminal {other} ({state}): give {tid} a "
            f"fresh --root, or finish {other} there (`terminal add --terminal {other}`), or "
            f"retire it first (`terminal retire --terminal {other} --root {layout.root}`)"
        )
    if layout.ca.exists():
        verify_issued_by(fleet, layout.ca)
    reg = fleet.registry()
    rec = reg.terminals.get(tid)
    finished = False
    if rec is not None:
        if rec.store_id != sid:
            raise FleetError(f"terminal {tid} belongs to store {rec.store_id}, not {sid}")
        if rec.status in ("revoked", "retired"):
            raise FleetError(f"terminal id {tid} was {rec.status}; give the new terminal a new id")
        on_disk = layout.cert.exists() and certs.fingerprint(certs.load_cert(layout.cert))
        if rec.status == "active" and on_disk != rec.sha256:
            raise FleetError(
                f"terminal {tid} is already provisioned (certificate {rec.serial}) on another "
                "root: pick another --terminal, or retire it first"
            )
        finished = rec.status == "active"
    if not args.store_name and not holds_store_name(layout):
        raise FleetError(
            "no store name for the receipts: pass --store-name (e.g. --store-name 徐汇店 "
            "--store-name-en 'Xuhui store'); a later run keeps it"
        )
    hq_url = args.hq_url or fleet.settings.hq_url
    if not (rec and rec.registered) and not args.token and not args.skip_hq:
        raise FleetError(f"no HQ token: pass --token or set {hq.TOKEN_ENV}; {hq.TOKEN_SOURCE}")
    created = rec is None
    rec = rec or TerminalRecord(terminal_id=tid, store_id=sid)
    progress.done("resuming a half-done run" if rec.serial and not finished else "ok")

    key_pending, cert_pending = layout.tls / KEY_PENDING, layout.tls / CERT_PENDING
    if not finished:
        progress.step("device key and signing request (the key stays in the root)")
        files.make_dir(layout.tls, mode=files.PRIVATE_DIR)
        if key_pending.exists() and cert_pending.exists() and rec.serial:
            progress.done("kept from the earlier run")
            cert = certs.load_cert(cert_pending)
            progress.step("certificate")
            progress.done(f"kept {rec.serial}")
        else:
            key = certs.new_key()
            certs.write_key(key_pending, key)
            csr = certs.make_csr(key, tid)
            progress.done()
            progress.step("certificate signed by the fleet CA")
            cert = certs.sign_csr(fleet.authority(), csr, days=args.days)
            files.write_bytes(cert_pending, certs.cert_pem(cert), mode=files.PUBLIC)
            rec.serial, rec.sha256 = certs.serial_hex(cert), certs.fingerprint(cert)
            rec.not_after = cert.not_valid_after_utc.isoformat()
            reg.terminals[tid] = rec
            fleet.save_registry(reg)
            progress.done(f"serial {rec.serial}")

        progress.step(f"registering with HQ at {hq_url}")
        if rec.registered:
            progress.done("already registered")
        elif args.skip_hq:
            progress.done("skipped (--skip-hq): run `terminal register` when HQ is reachable")
        else:
            try:
                hq.register(hq_url, args.token, _hq_record(rec, cert))
            except Exception:
                _roll_back(fleet, tid, created, layout)
                raise
            rec.registered = True
            fleet.save_registry(reg)
            progress.done()

        progress.step("broker identity and rights")
        fleet.apply(reg)
        progress.done()
    else:
        progress.say(f"terminal {tid} is already provisioned: rewriting its config and units")

    progress.step(f"service user {args.user}")
    owner = service_owner(layout, args.user)
    progress.done("ok" if owner.uid is not None else "skipped (not root: files stay yours)")

    progress.step("config, CA bundle, store and systemd units")
    config, kept = kept_settings(
        layout, terminal_config(layout, sid, tid, fleet.settings.broker_host,
                                fleet.settings.broker_port),
        args.store_name, args.store_name_en,
    )  # fmt: skip
    write_files(layout, owner, config, fleet.ca_cert.read_bytes(), args.user,
                python=args.python, app_dir=args.app_dir)  # fmt: skip
    if key_pending.exists():
        owner.apply(key_pending)
        os.replace(key_pending, layout.key)
        owner.apply(cert_pending)
        os.replace(cert_pending, layout.cert)
    progress.done(f"done; {kept}" if kept else "done")

    rec.status = "active"
    fleet.save_registry(reg)
    t = config.terminal
    progress.say(f"receipts are headed: {t.store_name} (English: {t.store_name_en})")
    progress.say(_next_steps(layout, tid, simulated_parts(config)))
    return 0


def _roll_back(fleet: Fleet, tid: str, created: bool, layout: Layout) -> None:
    """Undo a run that HQ refused: no key, no certificate, no registry entry left."""
    for path in (layout.tls / KEY_PENDING, layout.tls / CERT_PENDING):
        path.unlink(missing_ok=True)
    for directory in (layout.tls, layout.etc, layout.etc.parent, layout.root):
        try:
            directory.rmdir()  # only if this run made it and left it empty
        except OSError:
            break
    if created:
        reg = fleet.registry()
        reg.terminals.pop(tid, None)
        fleet.save_registry(reg)


def _hq_record(rec: TerminalRecord, cert: certs.x509.Certificate | None = None) -> hq.Registration:
    """What HQ records of the terminal's current certificate (its start only if cert is given)."""
    start = cert.not_valid_before_utc.isoformat() if cert is not None else None
    return hq.Registration(
        rec.terminal_id, rec.store_id, rec.sha256, rec.serial,
        cert_valid_from=start, cert_valid_until=rec.not_after or None,
    )  # fmt: skip


def _next_steps(layout: Layout, tid: str, simulated: list[str]) -> str:
    config = layout.device_path(layout.config)
    hardware = (
        f"""
  0. this till's hardware: {", ".join(simulated)} are simulated; set the real ones in
     {config} (docs/terminal.md, "This till's hardware"); running `terminal add` again
     keeps them"""
        if simulated
        else ""
    )
    return f"""
Terminal {tid} is provisioned under {layout.root}. Next:{hardware}
  1. on the Pi: systemctl daemon-reload && systemctl start pos-terminal
     (it starts at boot by itself; logs: journalctl -u pos-terminal)
  2. with the technician at the till: python -m provisioning self-test --config \
{config}
  3. HQ shows the terminal online once it has connected."""


def run_register(args: argparse.Namespace, progress: Progress) -> int:
    """terminal register: the HQ registration a --skip-hq run left out."""
    fleet = Fleet.open(args.fleet.resolve())
    progress.total = 1
    with fleet.locked():
        reg = fleet.registry()
        rec = _record(fleet, args.terminal)
        rec = reg.terminals[args.terminal]
        progress.step(f"registering {rec.terminal_id} with HQ")
        if rec.registered and args.root is not None:
            pem = _current_pem(Layout(args.root.resolve()), rec)
            hq.replace_certificate(args.hq_url or fleet.settings.hq_url, args.token,
                                   _hq_record(rec), pem)  # fmt: skip
            progress.done(f"already registered; HQ names certificate {rec.serial}")
            return 0
        if rec.registered:
            progress.done("already registered")
            return 0
        hq.register(args.hq_url or fleet.settings.hq_url, args.token, _hq_record(rec))
        rec.registered = True
        fleet.save_registry(reg)
        progress.done()
    return 0


def _current_pem(layout: Layout, rec: TerminalRecord) -> bytes:
    """The terminal's certificate file in layout, if it is the one the registry names."""
    try:
        pem = layout.cert.read_bytes()
    except OSError as err:
        raise FleetError(f"cannot read {layout.cert}: {err.strerror}") from None
    if certs.fingerprint(certs.x509.load_pem_x509_certificate(pem)) != rec.sha256:
        raise FleetError(
            f"{layout.cert} is not terminal {rec.terminal_id}'s current certificate "
            f"({rec.serial}): is --root its root?"
        )
    return pem


def run_revoke(args: argparse.Namespace, progress: Progress) -> int:
    """terminal revoke: CRL plus identity removal; the live connection is dropped at once."""
    fleet = Fleet.open(args.fleet.resolve())
    progress.total = 2
    with fleet.locked():
        reg = fleet.registry()
        rec = _record(fleet, args.terminal)
        rec = reg.terminals[args.terminal]
        progress.step("revoking at the broker (CRL, identity)")
        rec.status, rec.reason = "revoked", args.reason
        fleet.save_registry(reg)
        fleet.apply(reg)
        progress.done(f"serial {rec.serial} refused from now on")
        progress.step("telling HQ why (the terminal's status)")
        if fleet.broker_pid() is not None:
            publish_reason(fleet, rec.store_id, rec.terminal_id,
                           Said("fleet.revoked", reason=args.reason))  # fmt: skip
            progress.done()
        else:
            progress.done("skipped: the broker is not running")
    return 0


def run_retire(args: argparse.Namespace, progress: Progress) -> int:
    """terminal retire: refuses while sales are unsynced unless --force."""
    fleet = Fleet.open(args.fleet.resolve())
    progress.total = 3
    with fleet.locked():
        reg = fleet.registry()
        rec = _record(fleet, args.terminal)
        rec = reg.terminals[args.terminal]
        progress.step("checking for unsynced sales")
        depth = _unsynced(fleet, rec, args.root)
        if depth and not args.force:
            raise FleetError(
                f"terminal {rec.terminal_id} still has {depth} unsynced event(s): let it sync "
                "(systemctl start pos-sync drains it), or pass --force to lose them"
            )
        progress.done(f"{depth} unsynced" + (" (forced: they will be lost)" if depth else ""))
        progress.step("removing its broker identity and rights")
        rec.status, rec.reason = "retired", "retired by a technician"
        fleet.save_registry(reg)
        fleet.apply(reg)
        progress.done()
        progress.step("removing its credentials")
        gone = remove_credentials(Layout(args.root.resolve())) if args.root else []
        if fleet.broker_pid() is not None:
            publish_reason(fleet, rec.store_id, rec.terminal_id, Said("fleet.retired"))
        progress.done(f"{len(gone)} file(s) deleted" if args.root else "registry and broker")
    return 0


def _unsynced(fleet: Fleet, rec: TerminalRecord, root: Path | None) -> int:
    db = Layout(root.resolve()).db if root else None
    if db is not None and db.exists():
        from device.store.db import open_database
        from device.store.outbox import Outbox

        store = open_database(db)
        try:
            return Outbox(store).depth()  # acknowledged rows kept to resend are synced
        finally:
            store.close()
    status = read_status(fleet, rec.store_id, rec.terminal_id)
    return status.outbox_depth if status is not None else 0
