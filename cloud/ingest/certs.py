"""Terminals' certificates read from their cert topics: HQ's registration follows each one.

The fleet's signer publishes every certificate it issues (a renewal, or a technician's
rotation) retained on the terminal's ``.../cert`` topic, which only the signer identity may
publish on (provisioning.acl). Ingest reads those topics (plainly: retained messages never
reach a shared subscription) and records the certificate in the terminal's registration,
after checking that it parses, names that terminal (CN) and, when the worker knows the fleet
CA (its --tls-ca), that the CA issued it. Without the CA the ACL is all that vouches for the
publisher, and the worker says so when it starts. A payload that fails a check changes
nothing and is logged with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from cloud.store.db import CloudDB
from cloud.store.registry import CertFacts, Followed, follow_certificate
from protocol import enrol, topics
from protocol.errors import BadTopic

log = logging.getLogger(__name__)

VIA = "fleet signer (cert topic)"


class CertDesk:
    """Applies certificates from cert topics to HQ's terminal registry."""

    def __init__(
        self,
        db: Callable[[], CloudDB],
        ca_pem: bytes | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = db
        self._ca_pem = ca_pem
        self._clock = clock

    def trust_note(self) -> str:
        """How certificates on cert topics are checked (logged once at start)."""
        if self._ca_pem is None:
            return (
                "no fleet CA (--tls-ca) given: certificates on cert topics are checked by "
                "name only, trusting the broker's ACL (only the signer may publish there)"
            )
        return "certificates on cert topics are checked against the fleet CA (--tls-ca)"

    def handle(self, topic: str, payload: bytes) -> Followed | None:
        """Record the certificate on topic in the registration; None if it was not one."""
        if not payload:
            return None  # a cleared retained message
        try:
            store_id, terminal_id = topics.parse_cert_topic(topic)
            cert = enrol.read_issued(payload, terminal_id, self._ca_pem)
        except (BadTopic, enrol.EnrolError) as err:
            log.warning("certificate on %s ignored, HQ's registration unchanged: %s", topic, err)
            return None
        facts = CertFacts.of(cert)
        cdb = self._db()
        with cdb.write():
            done, why = follow_certificate(
                cdb,
                store_id,
                terminal_id,
                facts,
                VIA,
                self._clock().astimezone(dt.UTC).replace(tzinfo=None),
            )
        if done is Followed.REPLACED:
            log.info("%s", why)
        elif done is not Followed.SAME:
            log.warning("certificate %s on %s not recorded at HQ: %s", facts.serial, topic, why)
        return done
