"""Helpers for the live end-to-end tests: a background event loop, child processes, HTTP calls.

Kept free of pytest fixtures (those are in conftest.py). Everything listens on
127.0.0.1 only, and every wait is bounded in both time and number of tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DliSimulator
from tests.support.process import ExporterProcess, Samples, find, free_port

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]

QUERY_LOG: list[str] = []
"""Every dashboard query the live tests ran, one line each; printed in the terminal summary."""

ALERT_TIMINGS: list[str] = []
"""Time to page and to resolve per alert family, measured by the shipped-intervals run; printed in the summary."""

CHECKOUT_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
"""The environment of an exporter process that must load this checkout (the tests' helpers included)."""


# --------------------------------------------------------------------------- waiting


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    for _ in range(int(timeout / interval) + 2):
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f"\n{diagnostics()}" if diagnostics is not None else ""
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last result: {last!r}{detail}")


# --------------------------------------------------------------------------- background loop


class LoopThread:
    """An asyncio loop in a daemon thread, for the simulators, the webhook and the exporter helper.

    The tests themselves are synchronous; they hand coroutines and simulator
    calls to this loop so that simulator state is only ever touched from its
    own thread.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="e2e-loop", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> LoopThread:
        self.thread.start()
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run a plain function on the loop's thread and return its result."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.thread.is_alive():
            self.loop.close()
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


# --------------------------------------------------------------------------- child processes


class ChildProcess:
    """A server binary we start ourselves, logging to a file; stopped by its PID."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()}")

    def logs(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to our PID, then SIGKILL if it has not exited within `timeout` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def _serve(
    cleanup: contextlib.ExitStack, binary: str, directory: Path, config: tuple[str, str], flags: Sequence[str]
) -> tuple[ChildProcess, str]:
    """Write the config file, start `binary` on a free loopback port; stopped when `cleanup` closes."""
    name, text = config
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    port = free_port()
    argv = [binary, f"--config.file={directory / name}", f"--web.listen-address=127.0.0.1:{port}", *flags]
    process = ChildProcess(Path(binary).name, argv, directory / f"{Path(binary).name}.log")
    cleanup.callback(process.stop)
    process.start()
    return process, f"http://127.0.0.1:{port}"


def start_alertmanager(
    cleanup: contextlib.ExitStack,
    binary: str,
    directory: Path,
    config_text: str,
    cluster: Sequence[str] = ("--cluster.listen-address=",),
) -> tuple[ChildProcess, Alertmanager]:
    """Alertmanager with `config_text`; by default without a gossip port, else with the `cluster` flags."""
    flags = [f"--storage.path={directory / 'data'}", *cluster]
    process, url = _serve(cleanup, binary, directory, ("alertmanager.yml", config_text), flags)
    return process, Alertmanager(url)


def start_prometheus(
    cleanup: contextlib.ExitStack, binary: str, directory: Path, config_text: str
) -> tuple[ChildProcess, Prometheus]:
    """Prometheus with `config_text`."""
    flags = [f"--storage.tsdb.path={directory / 'data'}"]
    process, url = _serve(cleanup, binary, directory, ("prometheus.yml", config_text), flags)
    return process, Prometheus(url)


# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpResult:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, *, form: dict[str, Any] | None = None, timeout: float = 10.0) -> HttpResult:
    """One loopback HTTP request; HTTP error statuses are returned, not raised."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"loopback only: {url}")
    data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResult(response.status, response.read())
    except urllib.error.HTTPError as err:
        return HttpResult(err.code, err.read())


def reachable(url: str) -> bool:
    try:
        return http("GET", url, timeout=2).status == 200
    except OSError:
        return False


class PromQLError(AssertionError):
    pass


@dataclass
class Prometheus:
    """Prometheus' HTTP API (`/api/v1`)."""

    url: str

    def _api(self, path: str, form: dict[str, Any], method: str = "POST") -> Any:
        if method == "GET":
            result = http("GET", f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(form, doseq=True)}")
        else:
            result = http("POST", f"{self.url}/api/v1/{path}", form=form)
        try:
            doc = result.json()
        except ValueError:
            raise PromQLError(f"{path}: HTTP {result.status}: {result.body[:500]!r}") from None
        if result.status != 200 or doc.get("status") != "success":
            raise PromQLError(f"{path} {form}: HTTP {result.status}: {doc.get('errorType')}: {doc.get('error')}")
        if doc.get("warnings"):
            raise PromQLError(f"{path} {form}: warnings {doc['warnings']}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; a vector result as a list of {metric, value}, a scalar as one sample."""
        data = self._api("query", {"query": expr})
        if data["resultType"] == "vector":
            return list(data["result"])
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        raise PromQLError(f"{expr}: unexpected result type {data['resultType']}")

    def query_range(self, expr: str, seconds: float, step: float = 1.0) -> list[dict[str, Any]]:
        end = time.time()
        data = self._api("query_range", {"query": expr, "start": end - seconds, "end": end, "step": step})
        return list(data["result"])

    def label_values(self, label: str, match: str, seconds: float = 3600.0) -> list[str]:
        """What Grafana's `label_values(<match>, <label>)` asks for."""
        end = time.time()
        form = {"match[]": match, "start": end - seconds, "end": end}
        data = self._api(f"label/{urllib.parse.quote(label)}/values", form, method="GET")
        return sorted(data)

    def series(self, match: str, seconds: float = 3600.0) -> list[dict[str, str]]:
        end = time.time()
        return list(self._api("series", {"match[]": match, "start": end - seconds, "end": end}))

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._api_get("alerts")["alerts"])

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._api_get("rules")["groups"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.rule_groups() for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        return list(self._api_get("targets")["activeTargets"])

    def _api_get(self, path: str) -> Any:
        result = http("GET", f"{self.url}/api/v1/{path}")
        doc = result.json()
        if result.status != 200 or doc.get("status") != "success":
            raise PromQLError(f"{path}: HTTP {result.status}: {doc}")
        return doc["data"]


@dataclass
class Alertmanager:
    url: str

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds, including inhibited and silenced ones."""
        result = http("GET", f"{self.url}/api/v2/alerts?active=true&inhibited=true&silenced=true&unprocessed=true")
        assert result.status == 200, result.body
        return list(result.json())


# --------------------------------------------------------------------------- webhook receiver


@dataclass
class Notification:
    path: str
    payload: dict[str, Any]
    received_at: float = field(default_factory=time.time)
    """Unix time the webhook received it."""

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.payload.get("alerts", []) if status is None or a.get("status") == status]


@dataclass
class WebhookReceiver:
    """Collects Alertmanager's webhook notifications (runs on the background loop)."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Notification] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        with self._lock:
            self.received.append(Notification(request.path, payload))
        return web.Response(text="ok")

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self.received)

    def find(self, alertname: str, status: str = "firing", **labels: str) -> list[tuple[str, dict[str, Any]]]:
        """(receiver path, alert) for every notified alert with that name, status and labels."""
        hits = []
        for note in self.notifications():
            for alert in note.alerts(status):
                got = alert.get("labels", {})
                if got.get("alertname") == alertname and all(got.get(k) == v for k, v in labels.items()):
                    hits.append((note.path, alert))
        return hits


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    workdir: Path
    loop: LoopThread
    cloudtrax: CloudTraxSimulator
    dli: dict[str, DliSimulator]
    exporter: ExporterProcess
    webhook: WebhookReceiver
    alertmanager_process: ChildProcess
    prometheus_process: ChildProcess
    prometheus: Prometheus
    alertmanager: Alertmanager
    job: str
    started_at: float
    """Unix time at which Prometheus was started."""

    @property
    def instance(self) -> str:
        return f"127.0.0.1:{self.exporter.port}"

    def exporter_metrics(self) -> Samples:
        return self.loop.run(self.exporter.metrics())

    def expected_targets(self) -> set[tuple[str, str]]:
        networks = self.loop.call(lambda: sorted(self.cloudtrax.state.networks))
        return {("cloudtrax", str(n)) for n in networks} | {("dli", name) for name in self.dli}

    def diagnostics(self) -> str:
        self.prometheus_process.check_running()
        self.alertmanager_process.check_running()
        parts = [
            f"--- prometheus log ---\n{self.prometheus_process.logs(2000)}",
            f"--- alertmanager log ---\n{self.alertmanager_process.logs(2000)}",
            f"--- exporter log ---\n{self.exporter.logs()[-2000:]}",
        ]
        return "\n".join(parts)

    def wait_ready(self) -> None:
        """Bounded waits until Prometheus holds a few scrapes of every target, all up."""
        wait_until(
            lambda: reachable(f"{self.alertmanager.url}/-/ready"),
            timeout=15,
            what="alertmanager /-/ready",
            diagnostics=self.diagnostics,
        )
        wait_until(
            lambda: reachable(f"{self.prometheus.url}/-/ready"),
            timeout=15,
            what="prometheus /-/ready",
            diagnostics=self.diagnostics,
        )
        expected = self.expected_targets()

        def exporter_targets_up() -> bool:
            samples = self.exporter_metrics()
            up = {(lbl["source"], lbl["target"]) for lbl, v in find(samples, "powerstrip_exporter_target_up") if v}
            return expected <= up

        wait_until(exporter_targets_up, timeout=30, what=f"exporter targets {sorted(expected)} up")
        sel = f'job="{self.job}",instance="{self.instance}"'

        def scraped() -> bool:
            self.prometheus_process.check_running()
            up = {
                (s["metric"]["source"], s["metric"]["target"])
                for s in self.prometheus.query(f"powerstrip_exporter_target_up{{{sel}}} == 1")
            }
            history = self.prometheus.query(f"count_over_time(up{{{sel}}}[1h]) >= 3")
            return expected <= up and bool(history)

        # About 5 s of service discovery, then three 1 s scrapes.
        wait_until(
            scraped, timeout=45, interval=0.5, what="three scrapes of every target", diagnostics=self.diagnostics
        )
