"""The loop that polls one target until cancelled."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

import aiohttp
import structlog

from exporter.engine.backoff import next_delay
from exporter.engine.state import SnapshotStore, TargetState
from exporter.metrics.reasons import PollFailureReason
from exporter.metrics.spec import Refusal, SampleSet
from exporter.redaction import redact
from exporter.sources.api import PollError, Target, poll_timeout

log = structlog.get_logger("exporter.engine")


def classify(exc: BaseException) -> tuple[PollFailureReason, str, float | None]:
    """Reason, message and Retry-After of a failed poll; sources should raise PollError.

    The message is redacted here too: it reaches the log, the landing page and the action API."""
    if isinstance(exc, PollError):
        return exc.reason, redact(str(exc)), exc.retry_after
    if isinstance(exc, TimeoutError):
        return "timeout", "poll timed out", None
    if isinstance(exc, aiohttp.ClientError | OSError):
        return "connection", redact(f"{type(exc).__name__}: {exc}"), None
    return "bad_response", redact(f"unexpected {type(exc).__name__}: {exc}"), None


def release_frames(exc: BaseException) -> None:
    """Drop the tracebacks of a failed poll's error and of every error it was raised from or during.

    Their frames hold what the poll had read (a refused 8 MB answer, say), and asyncio makes cycles
    through them: a task keeps its exception, whose traceback keeps the frame that keeps the task.
    Such a cycle waits for a full collection; without the tracebacks, reference counting frees the
    answers as soon as the poll is over."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        error.__traceback__ = None
        pending += (error.__cause__, error.__context__)


class TargetRunner:
    """Polls one target on its schedule and publishes a new state after each attempt."""

    def __init__(
        self,
        source: str,
        target: Target,
        store: SnapshotStore,
        *,
        jitter: float,
        backoff_max: float,
        retry_after_max: float | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.target = target
        self.store = store
        self.jitter = jitter
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._wall = wall_clock
        self._failures = 0
        self._refused_series: frozenset[str] = frozenset()
        """The series the last successful poll refused (a change of this set is logged once)."""
        self._task: asyncio.Task[None] | None = None
        self.state = TargetState(source=source, name=target.name)
        store.put(self.state)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"poll {self.source}/{self.target.name}")

    async def stop(self) -> None:
        """Cancel the loop (even mid-poll) and release the target's sessions."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.target.aclose(), timeout=2.0)
        except Exception as err:  # a broken close must not block shutdown
            log.warning("target close failed", source=self.source, target=self.target.name, error=repr(err))

    def _check_sample_limit(self, samples: SampleSet) -> None:
        """Like Prometheus' `sample_limit`: an oversized poll fails whole, and the last snapshot stays."""
        limit = self.target.settings.sample_limit
        if limit and len(samples) > limit:
            raise PollError("sample_limit", f"poll produced {len(samples)} samples, over the sample_limit of {limit}")

    def _publish(self, state: TargetState) -> None:
        self.state = state
        self.store.put(state)

    async def poll_once(self) -> float | None:
        """One attempt; returns Retry-After if the server asked for one."""
        settings = self.target.settings
        start = time.perf_counter()
        try:
            async with poll_timeout(settings.timeout, failing=self._failures > 0):
                samples = await self.target.poll()
            self._check_sample_limit(samples)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason, message, retry_after = classify(exc)
            duration = time.perf_counter() - start
            self._failures += 1
            previous = self.state
            state = previous.after_failure(reason, message, duration)
            if self._is_stale(state):
                state = state.dropped_as_stale()
            self._publish(state)
            # One line per change of state: a target failing the same way on every poll logs once,
            # then only at debug level, until it recovers or fails differently.
            repeated = (
                previous.attempted
                and not previous.up
                and previous.last_reason == reason
                and previous.last_error == message
            )
            log.log(
                logging.DEBUG if repeated else logging.WARNING,
                "poll failed",
                source=self.source,
                target=self.target.name,
                reason=reason,
                error=message,
                consecutive_failures=self._failures,
            )
            if not repeated and reason == "bad_response" and not isinstance(exc, PollError):
                log.error("unexpected poll error", source=self.source, target=self.target.name, exc_info=exc)
            release_frames(exc)
            return retry_after
        duration = time.perf_counter() - start
        if self._failures:
            log.info("poll recovered", source=self.source, target=self.target.name, after_failures=self._failures)
        self._failures = 0
        self._note_refusals(samples.refused)
        components = self.target.components()
        self._publish(self.state.after_success(samples, duration, self._wall(), components))
        log.debug("poll ok", source=self.source, target=self.target.name, samples=len(samples), seconds=duration)
        return None

    def _note_refusals(self, refused: tuple[Refusal, ...]) -> None:
        """One line when the set of refused series changes, not one per poll that refuses it again."""
        series = frozenset(r.series for r in refused)
        if series == self._refused_series:
            return
        self._refused_series = series
        if refused:
            log.warning(
                "device values refused",
                source=self.source,
                target=self.target.name,
                reasons=sorted({r.reason for r in refused}),
                count=len(refused),
                values=[f"{r.series} {r.value:g}" for r in refused[:5]],
            )
        else:
            log.info("device values accepted again", source=self.source, target=self.target.name)

    def _is_stale(self, state: TargetState) -> bool:
        last = state.last_success
        return last is None or self._wall() - last > self.target.settings.stale_after

    async def _run(self) -> None:
        settings = self.target.settings
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            retry_after = await self.poll_once()
            delay = next_delay(
                settings.interval,
                self._failures,
                self.backoff_max,
                self.jitter,
                retry_after,
                retry_after_max=self.retry_after_max,
            )
            now = loop.time()
            if self._failures == 0 and retry_after is None:
                # Fixed rate while healthy: polls are due one interval apart, however long each took, so
                # targets that start together (the networks of one entry) stay together. A poll that
                # overran its interval is followed at once by one catch-up poll; slots missed beyond
                # that are skipped (no bursts), and the schedule keeps its phase.
                due += delay
                if due < now - settings.interval:
                    due += math.ceil((now - settings.interval - due) / settings.interval) * settings.interval
            else:
                due = now + delay  # back-off runs from the end of the failed poll
            await self._sleep_watching_staleness(max(0.0, due - now))

    async def _sleep_watching_staleness(self, delay: float) -> None:
        """Sleep until the next poll, dropping device series when they go stale meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            last = self.state.last_success
            if self.state.up or self.state.stale or last is None:
                await asyncio.sleep(remaining)
                return
            until_stale = last + self.target.settings.stale_after - self._wall()
            if until_stale >= remaining:
                await asyncio.sleep(remaining)
                return
            await asyncio.sleep(max(0.0, until_stale) + 0.001)
            if self._is_stale(self.state):
                self._publish(self.state.dropped_as_stale())
