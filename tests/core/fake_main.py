"""Launch the real exporter CLI with the fake source registered (for process tests).

With `SWITCH_REPORT` set, SIGUSR1 makes the process write its interpreter switch interval to that file:
the only way to read it from outside the running process."""

import os
import signal
import sys
from pathlib import Path
from types import FrameType

from exporter.cli import main
from exporter.sources.registry import SOURCES
from tests.core.fake_source import FakeSource


def _report_switch_interval(signum: int, frame: FrameType | None) -> None:
    report = Path(os.environ["SWITCH_REPORT"])
    staged = report.with_name(report.name + ".new")
    staged.write_text(repr(sys.getswitchinterval()), encoding="utf-8")
    staged.replace(report)  # whole or absent: the test never reads half a number


if "SWITCH_REPORT" in os.environ:
    signal.signal(signal.SIGUSR1, _report_switch_interval)
SOURCES[FakeSource.name] = f"{FakeSource.__module__}:{FakeSource.__name__}"  # as a vendor's one registry line
raise SystemExit(main())
