"""MQTT topic builders and parsers; every id is validated so no wildcard or slash can sneak in."""

from __future__ import annotations

import re
from typing import Final

from protocol.errors import BadTopic

PREFIX: Final = "pos/v1"
ALL_STORES: Final = "all"

STREAMS: Final = ("catalogue", "prices", "members", "coupons", "config", "staff")

#: Ingest workers share this subscription so the broker spreads terminals' batches across them.
INGEST_SHARE_GROUP: Final = "ingest"
INGEST_SHARED_SUBSCRIPTION: Final = f"$share/{INGEST_SHARE_GROUP}/{PREFIX}/+/+/events"
#: Plain (unshared) subscriptions for services that watch every terminal.
ALL_EVENTS: Final = f"{PREFIX}/+/+/events"
ALL_STATUS: Final = f"{PREFIX}/+/+/status"
ALL_CATCHUP: Final = f"{PREFIX}/+/+/catchup"
ALL_HELLO: Final = f"{PREFIX}/+/+/hello"
#: Terminals' questions to the cloud (coupon checks, receipt lookups); see protocol.remote.
ALL_REQUESTS: Final = f"{PREFIX}/+/+/req"
ALL_REPLIES: Final = f"{PREFIX}/+/+/reply"
#: Terminals' certificate signing requests, and the certificates signed for them (protocol.enrol).
ALL_RENEW: Final = f"{PREFIX}/+/+/renew"
ALL_CERT: Final = f"{PREFIX}/+/+/cert"

#: Leaves of the terminal -> cloud topics whose messages each count once (a batch, a question):
#: terminals never retain them, and a retained one is replayed to every new subscription
#: (a restarted ingest worker's shared one too), so the cloud ignores a retained copy. Status
#: and the signer's renew/cert topics are retained by design and are not listed.
NEVER_RETAINED: Final = frozenset({"events", "catchup", "hello", "req"})

ID_PATTERN: Final = r"[A-Za-z0-9_-]{1,32}"
RESERVED_IDS: Final = frozenset({ALL_STORES, "down"})
_ID_RE: Final = re.compile(ID_PATTERN)


def validate_id(value: str, what: str = "id") -> str:
    """Return value if it is a safe store/terminal id, else raise BadTopic."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise BadTopic(f"{what} {value!r} is not 1-32 characters of A-Z a-z 0-9 _ -")
    if value in RESERVED_IDS:
        # "all" and "down" are path words of the downstream topics; an id spelled like them
        # would let one terminal's topics overlap another's in the ACL patterns.
        raise BadTopic(f"{what} {value!r} is reserved")
    return value


def validate_stream(stream: str) -> str:
    """Return stream if it is one of STREAMS, else raise BadTopic."""
    if stream not in STREAMS:
        raise BadTopic(f"stream {stream!r} is not one of {', '.join(STREAMS)}")
    return stream


def _terminal_base(store_id: str, terminal_id: str) -> str:
    return f"{PREFIX}/{validate_id(store_id, 'store id')}/{validate_id(terminal_id, 'terminal id')}"


def events_topic(store_id: str, terminal_id: str) -> str:
    """Terminal -> cloud event batches."""
    return f"{_terminal_base(store_id, terminal_id)}/events"


def ack_topic(store_id: str, terminal_id: str) -> str:
    """Cloud -> terminal ACKs."""
    return f"{_terminal_base(store_id, terminal_id)}/ack"


def status_topic(store_id: str, terminal_id: str) -> str:
    """Terminal health, retained, and the terminal's last will."""
    return f"{_terminal_base(store_id, terminal_id)}/status"


def catchup_topic(store_id: str, terminal_id: str) -> str:
    """Terminal -> cloud request to resend downstream changes from given versions."""
    return f"{_terminal_base(store_id, terminal_id)}/catchup"


def hello_topic(store_id: str, terminal_id: str) -> str:
    """Terminal -> cloud at connect: where its journal stands (answered on the ACK topic)."""
    return f"{_terminal_base(store_id, terminal_id)}/hello"


def request_topic(store_id: str, terminal_id: str) -> str:
    """Terminal -> cloud: a question that waits for an answer (protocol.remote)."""
    return f"{_terminal_base(store_id, terminal_id)}/req"


def reply_topic(store_id: str, terminal_id: str) -> str:
    """Cloud -> terminal: answers to its requests; only this terminal may read them."""
    return f"{_terminal_base(store_id, terminal_id)}/reply"


def renew_topic(store_id: str, terminal_id: str) -> str:
    """Terminal -> fleet signer: its certificate signing request, retained (protocol.enrol)."""
    return f"{_terminal_base(store_id, terminal_id)}/renew"


def cert_topic(store_id: str, terminal_id: str) -> str:
    """Fleet signer -> terminal: the certificate signed for its request, retained."""
    return f"{_terminal_base(store_id, terminal_id)}/cert"


def down_topic(store_or_all: str, stream: str) -> str:
    """HQ -> stores: one store's (or every store's, with "all") changes on one stream."""
    scope = ALL_STORES if store_or_all == ALL_STORES else validate_id(store_or_all, "store id")
    return f"{PREFIX}/down/{scope}/{validate_stream(stream)}"


def terminal_down_topic(store_id: str, terminal_id: str, stream: str) -> str:
    """HQ -> one terminal: catch-up replies and snapshots on one stream."""
    return f"{_terminal_base(store_id, terminal_id)}/down/{validate_stream(stream)}"


def terminal_down_filter(store_id: str, terminal_id: str) -> str:
    """Subscription filter for everything addressed to one terminal alone."""
    return f"{_terminal_base(store_id, terminal_id)}/down/#"


def store_down_filter(store_or_all: str) -> str:
    """Subscription filter for every stream addressed to one store (or to all)."""
    scope = ALL_STORES if store_or_all == ALL_STORES else validate_id(store_or_all, "store id")
    return f"{PREFIX}/down/{scope}/#"


def _split_terminal_topic(topic: str, leaf: str) -> tuple[str, str]:
    parts = topic.split("/") if isinstance(topic, str) else []
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[4] != leaf:
        raise BadTopic(f"topic {topic!r} is not {PREFIX}/<store>/<terminal>/{leaf}")
    return validate_id(parts[2], "store id"), validate_id(parts[3], "terminal id")


def never_retained(topic: str) -> bool:
    """True for a terminal topic whose messages a retained copy would only replay (see
    NEVER_RETAINED)."""
    parts = topic.split("/") if isinstance(topic, str) else []
    return len(parts) == 5 and f"{parts[0]}/{parts[1]}" == PREFIX and parts[4] in NEVER_RETAINED


def parse_events_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from an events topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "events")


def parse_status_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a status topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "status")


def parse_catchup_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a catch-up topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "catchup")


def parse_hello_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a hello topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "hello")


def parse_request_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a request topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "req")


def parse_reply_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a reply topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "reply")


def parse_renew_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a renew topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "renew")


def parse_cert_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from a cert topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "cert")


def parse_ack_topic(topic: str) -> tuple[str, str]:
    """Return (store_id, terminal_id) from an ACK topic, or raise BadTopic."""
    return _split_terminal_topic(topic, "ack")


def parse_down_topic(topic: str) -> tuple[str, str | None, str]:
    """Return (store_or_all, terminal_id or None, stream) from any downstream topic."""
    parts = topic.split("/") if isinstance(topic, str) else []
    if len(parts) == 5 and f"{parts[0]}/{parts[1]}" == PREFIX and parts[2] == "down":
        scope = parts[3] if parts[3] == ALL_STORES else validate_id(parts[3], "store id")
        return scope, None, validate_stream(parts[4])
    if len(parts) == 6 and f"{parts[0]}/{parts[1]}" == PREFIX and parts[4] == "down":
        store = validate_id(parts[2], "store id")
        return store, validate_id(parts[3], "terminal id"), validate_stream(parts[5])
    raise BadTopic(f"topic {topic!r} is not a downstream topic")
