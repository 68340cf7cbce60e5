"""A stand-in for the minimal exporter in the benchmark's smoke run: its command line, served by this
project's exporter, so the smoke test needs nothing outside the repository. It is no baseline: the
benchmark's baseline is the independent minimal exporter (`python -m bench.run --minimal PATH`)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from exporter.cli import main


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    for flag in ("--base", "--key", "--secret", "--networks"):
        p.add_argument(flag, required=True)
    p.add_argument("--interval", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--port", type=int, default=19796)
    a = p.parse_args(argv)
    ms = round(a.interval * 1000)
    config = Path(tempfile.mkdtemp(prefix="standin-")) / "config.yml"
    config.write_text(
        f"global: {{interval: {ms}ms, timeout: {ms}ms, jitter: 0}}\n"
        f"sources: {{cloudtrax: {{max_concurrent_requests: {a.concurrency}}}}}\n"
        f"targets: [{{source: cloudtrax, name: standin, key: {a.key}, secret: {a.secret}, base_url: {a.base},"
        f" networks: [{a.networks}]}}]\n",
        encoding="utf-8",
    )
    return main(["--config.file", str(config), "--web.listen-address", f"127.0.0.1:{a.port}", "--log.level", "error"])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
