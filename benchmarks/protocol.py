"""Wire codec speed: encoding and validating batches of sale events, against plain json.loads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from protocol import codec
from protocol.envelope import Batch
from tests.protocol.samples import envelope

EVENTS_PER_BATCH = 100


def _rate(fn: Callable[[], object], events: int, min_seconds: float) -> float:
    """Events per second over repeated calls lasting at least min_seconds (best of 3 rounds)."""
    best = 0.0
    for _ in range(3):
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, calls * events / elapsed)
    return best


def run(quick: bool) -> dict[str, float]:
    """Figures for one 100-sale batch (2 lines each, a member, points): rates and sizes."""
    batch = Batch(
        terminal_id="S001-T01",
        store_id="S001",
        events=[envelope(seq, "sale") for seq in range(1, EVENTS_PER_BATCH + 1)],
    )
    payload = codec.encode_batch(batch)
    min_s = 0.2 if quick else 1.0

    def decode_with_bodies() -> None:
        for env in codec.decode_batch(payload).events:
            codec.decode_event_body(env)

    encode = _rate(lambda: codec.encode_batch(batch), EVENTS_PER_BATCH, min_s)
    decode = _rate(lambda: codec.decode_batch(payload), EVENTS_PER_BATCH, min_s)
    full = _rate(decode_with_bodies, EVENTS_PER_BATCH, min_s)
    baseline = _rate(lambda: json.loads(payload), EVENTS_PER_BATCH, min_s)
    return {
        "protocol_sale_event_bytes": len(payload) / EVENTS_PER_BATCH,
        "protocol_encode_events_per_s": encode,
        "protocol_decode_batch_events_per_s": decode,
        "protocol_decode_and_validate_bodies_events_per_s": full,
        "protocol_stdlib_json_loads_events_per_s": baseline,
        "protocol_validated_decode_vs_stdlib_json_loads_ratio": full / baseline,
    }


if __name__ == "__main__":
    for name, value in run(quick=True).items():
        print(f"{name}: {value:,.1f}")
