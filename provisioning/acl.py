"""What each broker identity may do: read-only tables of Mosquitto dynamic-security ACL rules.

Every identity gets exactly its own job and nothing by default (the plugin's default access is
deny for publish, delivery and subscribe):
- a terminal publishes its own events, status, catch-up requests, connect-time hello,
  questions to the cloud (``.../req``) and certificate signing requests (``.../renew``), and
  subscribes to and receives its own ACKs, its own replies (``.../reply``), its own renewed
  certificate (``.../cert``), its own downstream, its store's and the chain-wide downstream;
- ingest consumes every terminal's events, catch-up requests and hellos through a shared
  subscription
  (``$share/ingest``), reads status, and is the only identity that publishes ACKs and
  replies to terminals' requests; it also
  publishes the downstream changes it derives (member tier changes, catch-up replies);
- hq (the HQ API) publishes downstream changes and may watch status, catch-up requests and
  downstream, but can neither ACK nor join the ingest group;
- jobs (the cloud's job scheduler) publishes the member changes its jobs make (downstream),
  and nothing else;
- admin (the technicians' tool on the fleet host) drives the plugin's control topic and may
  write a terminal's retained status, to say why it was revoked or retired;
- signer (the fleet's certificate signer, `fleet renew` and the daily `fleet apply`, and
  `terminal rotate` announcing a certificate it replaced) reads every terminal's signing
  request, clears it once answered, and is the only identity that publishes certificates
  (retained, on each terminal's ``.../cert``). It has an identity of its own because one
  identity is one session at this broker: sharing admin's, a technician's admin client would
  knock the signer off mid-run, and the other way round;
- ingest also reads the cert topics, to keep HQ's terminal registration on the certificate
  each terminal was actually issued.

Subscriptions are checked by the plugin against the filter as sent, ``$share/<group>/``
included, so a terminal asking for ``$share/ingest/...`` is refused at SUBSCRIBE (Mosquitto's
acl_file never checks subscriptions at all, which is why the broker uses this plugin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from protocol import topics

SEND: Final = "publishClientSend"
RECEIVE: Final = "publishClientReceive"
SUBSCRIBE: Final = "subscribePattern"

CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"

_P = topics.PREFIX


@dataclass(frozen=True, slots=True)
class Rule:
    """One ACL entry: which kind of access to which topic (filter) is allowed."""

    acltype: str
    topic: str


def _read(*filters: str) -> tuple[Rule, ...]:
    # A subscription is useless without delivery, and delivery is checked separately.
    return tuple(r for f in filters for r in (Rule(SUBSCRIBE, f), Rule(RECEIVE, f)))


def _send(*names: str) -> tuple[Rule, ...]:
    return tuple(Rule(SEND, n) for n in names)


def terminal_rules(store_id: str, terminal_id: str) -> tuple[Rule, ...]:
    """A terminal: its own uplink topics, its ACKs, downstream for it, its store and all."""
    s, t = store_id, terminal_id
    return _send(
        topics.events_topic(s, t),
        topics.status_topic(s, t),
        topics.catchup_topic(s, t),
        topics.hello_topic(s, t),
        topics.request_topic(s, t),
        topics.renew_topic(s, t),
    ) + _read(
        topics.ack_topic(s, t),
        topics.reply_topic(s, t),
        topics.cert_topic(s, t),
        topics.terminal_down_filter(s, t),
        topics.store_down_filter(s),
        topics.store_down_filter(topics.ALL_STORES),
    )


_DOWNSTREAM: Final = (f"{_P}/down/#", f"{_P}/+/+/down/#")

INGEST_RULES: Final = (
    *_read(
        # Any share group of its own (a benchmark or a migration runs a second group).
        f"$share/+/{_P}/+/+/events",
        f"$share/+/{_P}/+/+/catchup",
        f"$share/+/{_P}/+/+/hello",
        f"$share/+/{_P}/+/+/req",
        topics.ALL_EVENTS,
        topics.ALL_CATCHUP,
        topics.ALL_HELLO,
        topics.ALL_REQUESTS,
        topics.ALL_STATUS,
        topics.ALL_CERT,  # not shared: retained messages reach plain subscriptions only
        f"{_P}/+/+/ack",  # its own output, watched by monitoring and benchmarks
    ),
    *_send(f"{_P}/+/+/ack", topics.ALL_REPLIES, *_DOWNSTREAM),
)

HQ_RULES: Final = (
    *_read(topics.ALL_STATUS, topics.ALL_CATCHUP, *_DOWNSTREAM),
    *_send(*_DOWNSTREAM),
)

JOBS_RULES: Final = _send(*_DOWNSTREAM)

ADMIN_RULES: Final = (
    *_read(f"{CONTROL_TOPIC}/#", topics.ALL_STATUS),
    *_send(CONTROL_TOPIC, topics.ALL_STATUS),
)

SIGNER_RULES: Final = (
    *_read(topics.ALL_RENEW),
    # Sending on renew topics only clears an answered request (an empty retained message).
    *_send(topics.ALL_RENEW, topics.ALL_CERT),
)

#: Service role name -> its rules. A service identity "ingest-2" has role "ingest".
SERVICE_ROLES: Final[Mapping[str, tuple[Rule, ...]]] = MappingProxyType(
    {
        "ingest": INGEST_RULES,
        "hq": HQ_RULES,
        "jobs": JOBS_RULES,
        "admin": ADMIN_RULES,
        "signer": SIGNER_RULES,
    }
)

TERMINAL_ROLE_PREFIX: Final = "terminal:"
SERVICE_ROLE_PREFIX: Final = "service:"


def terminal_role(terminal_id: str) -> str:
    """The plugin role name holding one terminal's rules."""
    return f"{TERMINAL_ROLE_PREFIX}{terminal_id}"


def service_role(role: str) -> str:
    """The plugin role name shared by every identity of one service."""
    return f"{SERVICE_ROLE_PREFIX}{role}"
