"""Launch the real exporter CLI with the fake source registered (for process tests)."""

from exporter.cli import main
from exporter.sources.registry import register
from tests.core.fake_source import FakeSource

register(FakeSource)
raise SystemExit(main())
