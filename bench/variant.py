"""Our exporter with one piece of the scrape path changed, to measure what that piece is worth.

    python -m bench.variant [--serve-on-main-loop] [--switch-interval SECONDS] -- <exporter arguments>

`bench.run --ours-variant "..."` starts ours this way. The variants are patched in here,
never in the product, and every figure docs/benchmark.md quotes for one names it.
- `--serve-on-main-loop`: the listeners run on the poll loop instead of a thread of their own.
- `--switch-interval`: the interpreter's switch interval (CPython's default is 0.005 s).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine
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
    args = parser.parse_args(argv[:split])
    import exporter.runtime
    from exporter.cli import main as exporter_main

    if args.serve_on_main_loop:
        exporter.runtime.WebThread = _SameLoop  # type: ignore[misc,assignment]
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
        import exporter.web.thread

        exporter.web.thread.sys = _FixedSwitch()  # type: ignore[assignment]
    return exporter_main(argv[split + 1 :])


class _FixedSwitch:
    """`sys` for exporter.web.thread, whose `setswitchinterval` leaves the variant's interval alone."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)

    def setswitchinterval(self, interval: float) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
