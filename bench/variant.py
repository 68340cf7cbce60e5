"""Our exporter with one piece of the scrape path changed, to measure what that piece is worth.

    python -m bench.variant [--serve-on-main-loop] [--switch-interval S] [--max-stale S]
                            [--build-ahead-for S] [--build-on-caller] [--gc-freeze] -- <exporter arguments>

`bench.run --ours-variant "..."` starts ours this way. The variants are patched in here,
never in the product, and every figure docs/benchmark.md quotes for one names it.
- `--serve-on-main-loop`: the listeners run on the poll loop instead of a thread of their own.
- `--switch-interval`: the interpreter's switch interval (CPython's default is 0.005 s).
- `--max-stale`: how far behind a change a served body may be (0: every scrape waits for the
  current body, and nothing is built ahead of scrapes).
- `--build-ahead-for`: how long after a scraper last asked for a form (plain text or OpenMetrics)
  its bodies are still built ahead of scrapes.
- `--build-on-caller`: no build thread: a body is built on the thread that starts the build (the
  poll loop when building ahead, the listeners' thread when a scrape must wait).
- `--gc-freeze`: the garbage-collector policy the exporter used to have: 10 s after the start,
  `gc.freeze()` and no automatic full collections (a full collection every 5 minutes instead).
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

_T = TypeVar("_T")


class _SameLoop:
    """Stands in for `WebThread`: everything runs on the calling loop."""

    def start(self) -> None:
        pass

    async def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return await coro

    def stop(self, timeout: float = 2.0) -> None:
        pass


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m bench.variant")
    parser.add_argument("--serve-on-main-loop", action="store_true")
    parser.add_argument("--switch-interval", type=float, default=None)
    parser.add_argument("--max-stale", type=float, default=None)
    parser.add_argument("--build-ahead-for", type=float, default=None)
    parser.add_argument("--build-on-caller", action="store_true")
    parser.add_argument("--gc-freeze", action="store_true")
    args = parser.parse_args(argv[:split])
    import exporter.daemon
    import exporter.runtime
    from exporter.cli import main as exporter_main

    if args.max_stale is not None:
        exporter.daemon.MAX_STALE_SECONDS = args.max_stale
    if args.build_ahead_for is not None:
        import exporter.metrics.body_cache

        exporter.metrics.body_cache.BUILD_AHEAD_FOR_SECONDS = args.build_ahead_for
    if args.build_on_caller:
        import exporter.metrics.body_cache

        exporter.metrics.body_cache.ThreadPoolExecutor = _OnCaller  # type: ignore[misc,assignment]
        # A build now runs inside `_start_build`'s lock, and takes it again to publish its body.
        exporter.metrics.body_cache.threading = _Patched(threading, Lock=threading.RLock)  # type: ignore[assignment]
    if args.serve_on_main_loop:
        exporter.runtime.WebThread = _SameLoop  # type: ignore[misc,assignment]
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
        import exporter.web.thread

        exporter.web.thread.sys = _Patched(sys, setswitchinterval=_leave_alone)  # type: ignore[assignment]
    if args.gc_freeze:
        _later(10.0, _freeze)
    return exporter_main(argv[split + 1 :])


def _freeze() -> None:
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1 << 30)
    _later(300.0, _collect)


def _collect() -> None:
    gc.collect()
    _later(300.0, _collect)


def _later(seconds: float, call: Any) -> None:
    timer = threading.Timer(seconds, call)
    timer.daemon = True
    timer.start()


class _OnCaller(Executor):
    """Stands in for the build thread's pool: runs each call at once, on the thread that submits it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Patched:
    """A module as one exporter module sees it: `overrides` replace some of its names."""

    def __init__(self, module: Any, **overrides: Any) -> None:
        self._module = module
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides[name] if name in self._overrides else getattr(self._module, name)


def _leave_alone(interval: float) -> None:
    """`setswitchinterval` for exporter.web.thread: the variant's interval stays."""


if __name__ == "__main__":
    sys.exit(main())
