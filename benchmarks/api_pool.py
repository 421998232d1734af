"""HQ API requests on PostgreSQL with pooled connections against a connection opened per request.

Figures (one small fresh database, both apps in the same run, rounds alternating):
- ``api.request_pooled_p50_ms`` / ``_p95_ms``: a signed-in ``GET /api/terminals`` through the
  app with its connection pool (``ApiSettings.db_pool``), timed end to end in-process;
- ``api.request_unpooled_p50_ms``: the same request through an app that opens and closes a
  PostgreSQL connection for every request (``db_pool=0``, how the API worked before);
- ``api.unpooled_vs_pooled_p50_ratio``: how many times longer a request takes without the pool.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

from benchmarks.hq import _p95
from cloud.api.app import ApiSettings, create_app
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.pg import PgUnavailable, fresh_database, pg_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def run(quick: bool) -> dict[str, float]:
    """Time the same request through a pooled and an unpooled app, alternating rounds."""
    rounds, per_round = (4, 50) if quick else (10, 100)
    times: dict[int, list[float]] = {16: [], 0: []}
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            headers = bearer(token_for(url, "admin"))
            apps = {size: TestClient(create_app(url, Recorder(), ApiSettings(db_pool=size)),
                                     headers=headers) for size in times}  # fmt: skip
            for client in apps.values():
                client.__enter__()
                client.get("/api/terminals")  # open lazily before the clock runs
            try:
                for _ in range(rounds):
                    for size, client in apps.items():
                        for _ in range(per_round):
                            start = time.perf_counter()
                            got = client.get("/api/terminals")
                            times[size].append((time.perf_counter() - start) * 1000)
                            if got.status_code != 200:
                                raise RuntimeError(f"request failed: {got.status_code} {got.text}")
            finally:
                for client in apps.values():
                    client.__exit__(None, None, None)
    except PgUnavailable as err:
        print(f"api pool benchmark skipped: {err}", file=sys.stderr)
        return {}
    pooled, unpooled = statistics.median(times[16]), statistics.median(times[0])
    return {
        "api.request_pooled_p50_ms": round(pooled, 2),
        "api.request_pooled_p95_ms": round(_p95(times[16]), 2),
        "api.request_unpooled_p50_ms": round(unpooled, 2),
        "api.unpooled_vs_pooled_p50_ratio": round(unpooled / pooled, 2),
    }
