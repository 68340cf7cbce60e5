"""A comparison exporter: the one a user would write with prometheus_client.

It polls in the background with the same clients, schedule and request limits as
`bench.baseline`, and after each poll sets labelled `Gauge`s in the default registry
from the same pure `build_samples` functions (counters too: a user keeping vendor
totals sets them). `start_http_server` serves the default registry, rendering it at
every scrape (gzip'd per scrape when asked).

    python -m bench.gauges --config.file config.yml --web.listen-address 127.0.0.1:9797
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Gauge

from bench.baseline import Fleet, NetworkData, Status, parse_args, serve
from exporter.metrics.spec import SampleSet
from exporter.sources.cloudtrax.collector import build_samples as ct_build_samples
from exporter.sources.dli.collector import PollData
from exporter.sources.dli.collector import build_samples as dli_build_samples
from exporter.sources.dli.config import DliEntry

_ST = ["source", "target"]
UP = Gauge("powerstrip_exporter_target_up", "1 if the last poll succeeded.", _ST)
POLLS = Gauge("powerstrip_exporter_target_polls_total", "Poll attempts.", _ST)
LAST = Gauge("powerstrip_exporter_target_last_success_timestamp_seconds", "Last success.", _ST)
DURATION = Gauge("powerstrip_exporter_target_poll_duration_seconds", "Last poll.", _ST)


class GaugeFleet(Fleet):
    """Keeps nothing to render at scrape time: every poll's values go straight into Gauges."""

    def __init__(self) -> None:
        super().__init__()
        self.gauges: dict[str, Gauge] = {}

    def _set(self, samples: SampleSet) -> None:
        for fam in samples.families:
            gauge = self.gauges.get(fam.spec.name)
            if gauge is None:
                gauge = self.gauges[fam.spec.name] = Gauge(fam.spec.name, fam.spec.help, fam.spec.labels)
            for labels, value in fam.samples:
                gauge.labels(*labels).set(value)

    def set_network(self, network_id: int, data: NetworkData) -> None:
        energy = {s.powerstrip_id: self.ledger.joules(network_id, s.powerstrip_id) for s in data.strips}
        self._set(ct_build_samples(network_id, data.strips, data.details, energy, data.settings, data.firmware))

    def set_dli(self, entry: DliEntry, poll: PollData) -> None:
        self._set(dli_build_samples(entry.name, poll, aliases=entry.aliases(), humidity_unit=entry.humidity_unit))

    def set_status(self, key: tuple[str, str], status: Status) -> None:
        # The poll's times before its count: whoever sees the new count sees its times too.
        if status.last_success is not None:
            LAST.labels(*key).set(status.last_success)
        DURATION.labels(*key).set(status.last_duration or 0.0)
        UP.labels(*key).set(1 if status.up else 0)
        POLLS.labels(*key).set(status.polls)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, "python -m bench.gauges", __doc__.splitlines()[0])
    serve(args, GaugeFleet(), REGISTRY)


if __name__ == "__main__":
    main()
