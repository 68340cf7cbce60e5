"""`powerstrip-exporter demo`: every simulator's demo fleet plus an exporter polling it.

The URL and the action token are printed only once the listener is bound and every simulator has
been polled once, so the printed example acts at once; a busy port ends the demo with one line (see
`exporter.cli`), not a token that does not work.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import yaml

from exporter.daemon import Daemon
from exporter.runtime import run_daemon
from exporter.sources.registry import load_sources
from exporter.web.listen import listen_url
from powerstrip_sim.registry import DEMOS

DEMO_GLOBAL = {"interval": "5s", "timeout": "4s", "stale_after": "1m", "backoff_max": "30s"}
READY_WAIT_SECONDS = 30.0
"""The banner waits this long at most for the first polls; the simulators answer in milliseconds."""
READY_CHECK_SECONDS = 0.05


async def run_demo(listen: list[str], telemetry_path: str = "/metrics") -> int:
    sources = load_sources()
    url = listen_url("http", listen[0])
    async with AsyncExitStack() as stack:
        entries: list[dict[str, Any]] = []
        lines = []
        for name, start_demo in DEMOS.items():
            if name not in sources:
                continue
            fleet = await start_demo("127.0.0.1")
            stack.push_async_callback(fleet.aclose)
            entries.extend(fleet.entries)
            lines.append(f"  {name}: {fleet.description}")
        token = secrets.token_urlsafe(24)
        actions = {
            "cooldown": "10s",
            "tokens": [{"name": "demo", "token": token, "allow": [{"actions": ["*"], "targets": ["*"]}]}],
        }
        config: dict[str, Any] = {"global": DEMO_GLOBAL, "targets": entries, "actions": actions}
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="powerstrip-demo-")))
        config_path = workdir / "config.yml"
        config_path.touch(mode=0o600)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        banner = [
            "powerstrip-exporter demo",
            *(lines or ["  (no source simulators available; serving the exporter's own metrics)"]),
            f"Open {url}  (metrics at {url}{telemetry_path.lstrip('/')}). Press Ctrl-C to stop.",
            f"Action API token for this demo: {token}",
            "  e.g. (dry run, calls nothing):",
            f'  curl -X POST -H "Authorization: Bearer {token}" "{url}api/v1/dli/dli-pro/outlets/1/cycle?dry_run=true"',
            f"  API description: {url}api/v1/openapi.json",
        ]
        daemon = Daemon(config_path, sources)
        announcing: set[asyncio.Task[None]] = set()

        def announce() -> None:
            task = asyncio.get_running_loop().create_task(_print_when_ready(daemon, banner))
            announcing.add(task)
            task.add_done_callback(announcing.discard)

        # The banner comes once every address is bound: a URL and token printed before that may not work.
        await run_daemon(daemon, listen, telemetry_path=telemetry_path, on_listening=announce)
    return 0


async def _print_when_ready(daemon: Daemon, banner: list[str]) -> None:
    """Print the banner once every simulator has been polled: before that, the example action is
    refused (404, no data yet)."""
    for _ in range(int(READY_WAIT_SECONDS / READY_CHECK_SECONDS)):
        if daemon.engine.is_ready():
            break
        await asyncio.sleep(READY_CHECK_SECONDS)
    print("\n".join(banner), flush=True)
