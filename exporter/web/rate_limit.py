"""exporter-toolkit's `rate_limit` for the web config: requests beyond it are answered 429."""

from __future__ import annotations

import threading
import time

from exporter.web.config_file import RateLimit


class RateLimiter:
    """A token bucket like Go's `rate.Limiter`, as exporter-toolkit uses it: it starts full with
    `burst` tokens and gains one every `interval`; a request that finds no token is refused."""

    def __init__(self, limit: RateLimit) -> None:
        assert limit.interval is not None
        self.limit = limit
        self._interval = limit.interval
        self._tokens = float(limit.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()  # the main and the actions listener share one limiter

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.limit.burst), self._tokens + (now - self._last) / self._interval)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
