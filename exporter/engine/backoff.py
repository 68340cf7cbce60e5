"""When to poll next: interval with jitter, exponential back-off, Retry-After."""

from __future__ import annotations

import random


def next_delay(
    interval: float,
    consecutive_failures: int,
    backoff_max: float,
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    *,
    retry_after_max: float | None = None,
) -> float:
    """Seconds until the next poll.

    Healthy targets wait `interval`. Each consecutive failure doubles the wait,
    capped at `backoff_max` (never below `interval`). A server's Retry-After is
    a floor that jitter never cuts, itself capped at `retry_after_max` (default:
    the back-off cap), so a short back-off cap never cuts what a server asked for.
    """
    if consecutive_failures <= 0:
        base = interval
    else:
        cap = max(interval, backoff_max)
        base = min(cap, interval * (2.0 ** min(consecutive_failures, 32)))
    r = rng or random
    delay = base * (1.0 + r.uniform(-jitter, jitter)) if jitter else base
    if retry_after is not None:
        # Honoured, but never beyond the back-off cap: a broken server must not stop polling for good.
        ceiling = backoff_max if retry_after_max is None else retry_after_max
        delay = max(delay, min(retry_after, max(interval, ceiling)))
    return max(0.0, delay)
