"""Broker identities in Mosquitto's dynamic-security plugin: the JSON file, and live changes.

The plugin reads its JSON file only when the broker starts (a SIGHUP does not re-read it) and
rewrites the file itself after every change made through its control topic. So a stopped
broker is configured by writing the file, and a running one only through the control topic,
as the admin identity: `DynsecAdmin.sync` reads the live roles and clients, and adds, changes
or removes only what differs from the wanted state, so running it twice changes nothing.
Deleting a client disconnects it at once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt

from provisioning.acl import CONTROL_TOPIC, Rule
from provisioning.errors import BrokerConfigError

RESPONSE_TOPIC: Final = f"{CONTROL_TOPIC}/response"
#: PBKDF2-SHA512 rounds for stored password hashes (the plugin's own default is 101).
DEFAULT_ITERATIONS: Final = 10_000
SALT_BYTES: Final = 12  # what Mosquitto 2.0's plugin expects
#: Roles and clients outside these prefixes (made by hand) are never deleted by sync.
MANAGED_ROLE_PREFIXES: Final = ("terminal:", "service:")


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One broker identity: its roles and, for password login, its password."""

    roles: tuple[str, ...]
    password: str | None = None  # None: certificate only (no password login possible)


@dataclass(frozen=True, slots=True)
class DynsecState:
    """Every role and client the broker should know."""

    roles: Mapping[str, tuple[Rule, ...]]
    clients: Mapping[str, ClientSpec]
    admin_username: str | None = None  # the identity sync runs as: never deleted by it


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> dict[str, Any]:
    """The plugin's stored form of a password: base64 PBKDF2-HMAC-SHA512 with a random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return {
        "salt": base64.b64encode(salt).decode(),
        "password": base64.b64encode(digest).decode(),
        "iterations": iterations,
    }


def _acl_json(rule: Rule) -> dict[str, Any]:
    return {"acltype": rule.acltype, "topic": rule.topic, "priority": 0, "allow": True}


def render(state: DynsecState, iterations: int = DEFAULT_ITERATIONS) -> dict[str, Any]:
    """The plugin's JSON configuration for this state; everything not listed is denied."""
    clients = []
    for username, spec in sorted(state.clients.items()):
        entry: dict[str, Any] = {
            "username": username,
            "roles": [{"rolename": r} for r in spec.roles],
        }
        if spec.password is not None:
            entry.update(hash_password(spec.password, iterations))
        clients.append(entry)
    roles = [
        {"rolename": name, "acls": [_acl_json(r) for r in rules]}
        for name, rules in sorted(state.roles.items())
    ]
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def write_file(path: Path, state: DynsecState, iterations: int = DEFAULT_ITERATIONS) -> None:
    """Write the plugin's file (0600: it holds password hashes), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(render(state, iterations), fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(slots=True)
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    responses: list[dict[str, Any]] = field(default_factory=list)


class DynsecAdmin:
    """A connection to the broker's control topic as the admin identity."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.where = f"{host}:{port}"
        self.username = username
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self._ready = threading.Event()
        self._refused = ""
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=username or "", protocol=mqtt.MQTTv5
        )
        if username is not None and password is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:
            self._client.tls_set(
                ca_certs=str(ca_file),
                certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def __enter__(self) -> DynsecAdmin:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect and subscribe to the plugin's responses, or raise BrokerConfigError."""
        try:
            self._client.connect(self._host, self._port, keepalive=30)
        except (OSError, ssl.SSLError) as err:
            raise BrokerConfigError(
                f"cannot reach the broker at {self.where}: {err}; is it running, and is this "
                "the fleet's CA?"
            ) from None
        self._client.loop_start()
        if not self._ready.wait(self.timeout_s) or self._refused:
            self.close()
            why = self._refused or f"no answer within {self.timeout_s:.0f}s"
            raise BrokerConfigError(
                f"the broker at {self.where} refused the admin identity {self.username!r}: {why}"
            )

    def close(self) -> None:
        """Disconnect."""
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            self._ready.set()
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, rcs: list[Any], _p: Any) -> None:
        if any(rc.is_failure for rc in rcs):
            self._refused = "not allowed to read the control responses"
        self._ready.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        pending = self._pending
        if pending is None:
            return
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            pending.responses = list(json.loads(msg.payload)["responses"])
            pending.done.set()

    def run(self, commands: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one message; return one response per command (with any "error")."""
        if not commands:
            return []
        with self._lock:
            self._pending = _Pending()
            info = self._client.publish(
                CONTROL_TOPIC, json.dumps({"commands": list(commands)}), qos=1
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS or not self._pending.done.wait(self.timeout_s):
                raise BrokerConfigError(
                    f"the broker at {self.where} did not answer a control command within "
                    f"{self.timeout_s:.0f}s"
                )
            responses, self._pending = self._pending.responses, None
        return responses

    def checked(self, commands: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """run(), raising BrokerConfigError on the first command the plugin refused."""
        responses = self.run(commands)
        for cmd, resp in zip(commands, responses, strict=False):
            if "error" in resp:
                what = cmd.get("username") or cmd.get("rolename") or ""
                raise BrokerConfigError(f"broker refused {cmd['command']} {what}: {resp['error']}")
        return responses

    # -- reading and syncing ---------------------------------------------------------------

    def live(self) -> tuple[dict[str, set[Rule]], dict[str, set[str]]]:
        """The plugin's current roles (name -> rules) and clients (username -> role names)."""
        roles_resp, clients_resp = self.checked(
            [
                {"command": "listRoles", "verbose": True, "count": -1},
                {"command": "listClients", "verbose": True, "count": -1},
            ]
        )
        roles = {
            r["rolename"]: {Rule(a["acltype"], a["topic"]) for a in r.get("acls", [])}
            for r in roles_resp["data"]["roles"]
        }
        clients = {
            c["username"]: {r["rolename"] for r in c.get("roles", [])}
            for c in clients_resp["data"]["clients"]
        }
        return roles, clients

    def sync(self, state: DynsecState) -> list[str]:
        """Make the live plugin match state; return a line per change made (empty: none)."""
        roles, clients = self.live()
        first: list[dict[str, Any]] = []
        later: list[dict[str, Any]] = []
        for name, rules in state.roles.items():
            want = set(rules)
            if name not in roles:
                first.append({"command": "createRole", "rolename": name})
                have: set[Rule] = set()
            else:
                have = roles[name]
            first += [
                {"command": "addRoleACL", "rolename": name, **_acl_json(r)}
                for r in sorted(want - have, key=lambda r: (r.acltype, r.topic))
            ]
            first += [
                {"command": "removeRoleACL", "rolename": name, "acltype": r.acltype,
                 "topic": r.topic}
                for r in sorted(have - want, key=lambda r: (r.acltype, r.topic))
            ]  # fmt: skip
        for username, spec in state.clients.items():
            if username not in clients:
                cmd: dict[str, Any] = {
                    "command": "createClient",
                    "username": username,
                    "roles": [{"rolename": r} for r in spec.roles],
                }
                if spec.password is not None:
                    cmd["password"] = spec.password
                first.append(cmd)
                continue
            first += [
                {"command": "addClientRole", "username": username, "rolename": r}
                for r in sorted(set(spec.roles) - clients[username])
            ]
            first += [
                {"command": "removeClientRole", "username": username, "rolename": r}
                for r in sorted(clients[username] - set(spec.roles))
            ]
        for username in sorted(set(clients) - set(state.clients)):
            if username != state.admin_username and username != self.username:
                later.append({"command": "deleteClient", "username": username})
        for name in sorted(set(roles) - set(state.roles)):
            if name.startswith(MANAGED_ROLE_PREFIXES):
                later.append({"command": "deleteRole", "rolename": name})
        self.checked(first)
        self.checked(later)
        return [_describe(c) for c in first + later]

    def set_password(self, username: str, password: str) -> None:
        """Change one identity's password (its live connection is dropped by the plugin)."""
        self.checked([{"command": "setClientPassword", "username": username,
                       "password": password}])  # fmt: skip


def _describe(cmd: Mapping[str, Any]) -> str:
    keys = ("username", "rolename", "acltype", "topic")
    return " ".join([str(cmd["command"]), *(str(cmd[k]) for k in keys if k in cmd)])
