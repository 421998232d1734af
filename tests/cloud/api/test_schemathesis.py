"""The OpenAPI document against the running app (schemathesis, bounded examples per operation).

Every operation gets generated requests as an admin: no 5xx, answers conform to the schema
(status codes, content types, bodies), invalid input is refused. One default check is left
out: "positive data acceptance" expects every schema-valid request to succeed, while HQ
refuses some on rules a schema cannot state (a store manager without stores, an unknown
store, a marketing push of prices), always with a 4xx and a message. Run with the rest of
`make test`; the bound keeps it to a few seconds per operation.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from cloud.api.app import create_app
from cloud.api.publisher import PublishError
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import envelope, sale_body
from tests.cloud.store.test_rollups import _apply

warnings.filterwarnings("ignore", category=DeprecationWarning)
MAX_EXAMPLES = 25


class Offline:
    def publish(self, topic: str, payload: bytes) -> None:
        raise PublishError("broker not reachable in this test")


@pytest.fixture
def admin_headers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("st") / "cloud.db"
    url = f"sqlite:///{path}"
    headers = bearer(token_for(url, "admin"))
    cdb = open_cloud_db(url)
    _apply(cdb, [envelope("S001-T01", 1, sale_body([("A", 2, 1500)]))])
    cdb.close()
    return {"url": url, "headers": headers}


def test_openapi_conformance(admin_headers: dict[str, Any]) -> None:
    """Every operation, generated requests, all of schemathesis's default checks."""
    app = create_app(admin_headers["url"], Offline())
    api = schemathesis.openapi.from_asgi("/openapi.json", app, headers=admin_headers["headers"])
    failures: list[str] = []
    operations = 0
    for found in api.get_all_operations():
        operation = found.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                headers=admin_headers["headers"], excluded_checks=[positive_data_acceptance]
            )

        try:
            check()
        except (Exception, BaseExceptionGroup) as err:  # schemathesis raises failure groups
            failures.append(f"{operation.label}: {str(err)[:1500]}")
    assert operations > 25
    assert not failures, "\n\n".join(failures)
