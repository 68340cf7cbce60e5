"""Upstreams that echo credentials, against the real exporter: no secret, and no 8-character piece of
one, reaches the exporter's log, the landing page, `/metrics`, or the action API's answers.

Both sources poll through `EchoingUpstream`, which passes requests to the simulators until told to
answer with errors that quote what it received (the CloudTrax key in its Authorization header, the
DLI Basic credential and the password decoded from it) and the configured secrets. Each error path
is driven in turn and its failure reason awaited before the outputs are read.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

from exporter.redaction import basic_credential
from powerstrip_sim.cloudtrax import CloudTraxSimulator
from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.support.echo_upstream import EchoingUpstream, Mode, leaks
from tests.support.process import ExporterProcess, value

KEY = "KEYkeyQv7Wx3Lm9Pz2Rt5Yn8Ub4Oc6"
SECRET = "SECsecJh4Gf6Dd8Ss0Aa2Qq4Ww6Ee8Rr"
PASSWORD = "PWDpwdMn3Bv5Cx7Zl9Kj1Hg"
TOKEN = "action-token-Tz8Yx6Wv4Us2"
NETWORK = 12345
STRIP = 1
ALL_SECRETS = [KEY, SECRET, PASSWORD, basic_credential(DEFAULT_USERNAME, PASSWORD), TOKEN]
FAILURES = "powerstrip_exporter_target_poll_failures_total"


@dataclass
class Rig:
    exporter: ExporterProcess
    cloudtrax: EchoingUpstream
    dli: EchoingUpstream

    async def outputs(self) -> dict[str, str]:
        status, landing = await self.exporter.get("/")
        assert status == 200
        return {"log": self.exporter.logs(), "/": landing, "/metrics": await self.exporter.metrics_text()}

    async def assert_nothing_leaked(self, extra: dict[str, str] | None = None) -> None:
        for where, text in {**await self.outputs(), **(extra or {})}.items():
            assert leaks(text, ALL_SECRETS) == [], f"secret pieces in {where}"

    async def failures(self, source: str, reason: str) -> float:
        samples = await self.exporter.metrics()
        return value(samples, FAILURES, source=source, reason=reason) or 0.0


def config(ct: EchoingUpstream, dli: EchoingUpstream) -> str:
    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "10m", "backoff_max": "1s", "jitter": 0.0},
            "targets": [
                {"source": "cloudtrax", "name": "acct", "key": KEY, "secret": SECRET, "base_url": ct.url,
                 "networks": [NETWORK]},
                {"source": "dli", "name": "pro", "url": dli.url, "username": DEFAULT_USERNAME,
                 "password": PASSWORD, "auth": "basic"},
            ],
            "actions": {
                "cooldown": "1s",
                "timeout": "5s",
                "tokens": [
                    {"name": "admin", "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                     "allow": [{"actions": ["*"], "targets": ["*"]}]},
                ],
            },
        }
    )  # fmt: skip


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with (
        CloudTraxSimulator(seed_payloads=True, key=KEY, secret=SECRET, strips=2, networks=1) as ct_sim,
        DliSimulator("pro", cycle_delay=0.1, password=PASSWORD, allow_basic=True) as dli_sim,
        EchoingUpstream(ct_sim.url, [KEY, SECRET]) as ct,
        EchoingUpstream(dli_sim.url, [PASSWORD]) as dli,
        ExporterProcess(tmp_path, config(ct, dli)) as exp,
    ):
        rig = Rig(exp, ct, dli)
        await healthy(rig)
        yield rig


async def healthy(rig: Rig) -> None:
    rig.cloudtrax.mode = rig.dli.mode = "pass"
    await rig.exporter.wait_for_sample(
        "cloudtrax_powerstrip_port_info", None, network_id=str(NETWORK), powerstrip_id=str(STRIP), port="4"
    )
    await rig.exporter.wait_for_sample("dli_outlet_info", None, device="pro", outlet="1")
    await rig.exporter.wait_for_sample("powerstrip_exporter_target_up", 1.0, source="dli")


async def drive(rig: Rig, mode: Mode, reasons: dict[str, str]) -> None:
    """Switch both fakes to `mode` and wait until each source has failed a poll for its reason."""
    before = {source: await rig.failures(source, reason) for source, reason in reasons.items()}
    rig.cloudtrax.mode = rig.dli.mode = mode

    async def failed_again() -> bool:
        return all([await rig.failures(s, r) > before[s] for s, r in reasons.items()])

    await rig.exporter.wait_for(failed_again, timeout=30, what=f"{mode}: failures {reasons}")


POLL_ERRORS: list[tuple[Mode, dict[str, str]]] = [
    ("status", {"cloudtrax": "http_status", "dli": "http_status"}),
    ("auth", {"cloudtrax": "auth", "dli": "auth"}),
    ("envelope", {"cloudtrax": "auth", "dli": "auth"}),
    ("html", {"cloudtrax": "bad_response", "dli": "bad_response"}),
    ("bad_json", {"cloudtrax": "bad_response", "dli": "bad_response"}),
]


async def test_poll_errors_echoing_secrets_leak_nothing(rig: Rig) -> None:
    for mode, reasons in POLL_ERRORS:
        await drive(rig, mode, reasons)
        await rig.assert_nothing_leaked()
    assert rig.cloudtrax.echoed and rig.dli.echoed
    # The messages were shown, redacted, not dropped: the landing page names the cause.
    _, landing = await rig.exporter.get("/")
    assert "&lt;redacted&gt;" in landing or "<redacted>" in landing


@pytest.mark.parametrize("which", ["cloudtrax key", "cloudtrax secret", "dli password"])
async def test_a_secret_straddling_the_message_cut_leaks_no_piece(rig: Rig, which: str) -> None:
    """The secret starts 16 characters before the 80-character cut of the upstream's text."""
    secret = {"cloudtrax key": KEY, "cloudtrax secret": SECRET, "dli password": PASSWORD}[which]
    rig.cloudtrax.secrets = rig.dli.secrets = [secret]
    await drive(rig, "straddle", {"cloudtrax": "bad_response", "dli": "bad_response"})
    await rig.assert_nothing_leaked()
    _, landing = await rig.exporter.get("/")
    assert "aaaaaaaa" in landing, "the malformed answer's snippet is on the page"


async def call(rig: Rig, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(rig.exporter.url + path, headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        return resp.status, await resp.text()


@pytest.mark.parametrize("mode", ["status", "auth", "envelope", "straddle_error"])
async def test_action_errors_echoing_secrets_leak_nothing(rig: Rig, mode: Mode) -> None:
    """Writes fail with the echo; reads keep passing so the targets stay in the snapshot."""
    rig.cloudtrax.write_mode = rig.dli.write_mode = mode
    answers = {}
    for path in (f"/api/v1/cloudtrax/powerstrips/{STRIP}/ports/4/reset", "/api/v1/dli/pro/outlets/1/cycle"):
        status, text = await call(rig, path)
        assert status == 502, text
        answers[path] = text
    assert rig.cloudtrax.echoed and rig.dli.echoed
    await rig.assert_nothing_leaked(answers)
    audit = [line for line in rig.exporter.logs().splitlines() if "msg=action " in line]
    assert len([line for line in audit if "decision=upstream" in line]) == 2, audit


async def test_names_echoing_secrets_are_redacted_in_labels(rig: Rig) -> None:
    """A unit or the cloud putting a secret into a name: the `_info` label shows `<redacted>` instead."""
    rig.cloudtrax.name_echo = f"strip {KEY} {SECRET}"
    rig.dli.name_echo = f"outlet {PASSWORD}"

    async def renamed() -> bool:
        text = await rig.exporter.metrics_text()
        return 'name="outlet <redacted>"' in text and 'name="strip <redacted> <redacted>"' in text

    await rig.exporter.wait_for(renamed, timeout=30, what="name labels redacted")
    await rig.assert_nothing_leaked()
