"""Launch the real exporter CLI with the fake source registered (for process tests)."""

from exporter.cli import main
from exporter.sources.registry import SOURCES
from tests.core.fake_source import FakeSource

SOURCES[FakeSource.name] = f"{FakeSource.__module__}:{FakeSource.__name__}"  # as a vendor's one registry line
raise SystemExit(main())
