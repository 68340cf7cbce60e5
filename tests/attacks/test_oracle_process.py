"""Redaction is no oracle: the attacks of a hostile caller who probes names, through the real process.

A caller chooses the text of a request (a device name, an outlet number). If the answer or the audit
line repeated it through piece-matching redaction, whether `<redacted>` came back would tell the caller
whether their text occurs in a secret, and a secret falls one character at a time. Each attack here is
run as the attacker would run it; the exporter must answer every probe alike and log every probe alike.
"""

from __future__ import annotations

import re
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yaml
from yarl import URL

from powerstrip_sim.dli import DEFAULT_USERNAME, DliSimulator
from tests.support.alertmanager_payload import alert, payload
from tests.support.process import ExporterProcess

LAB_PASSWORD = "lab-unit-pass-7781"
DC_PASSWORD = "datacenter2024!x"
FACTORY_PASSWORD = "1234"
LAB_TOKEN = "lab-token-5d3e2c1b0a99"
HOOK_TOKEN = "remediation-hook-token-0042"
SEED = DC_PASSWORD[:8]
"""The attacker's dictionary guess for the start of a password: what the extension attack grows from."""
CHARSET = "".join(c for c in string.ascii_letters + string.digits + string.punctuation if c not in "/{}")
"""Printable ASCII that routes to the action (a route parameter holds no slash or brace)."""


@dataclass
class Rig:
    exporter: ExporterProcess

    async def post(self, path: str, token: str | None = None, **kw: Any) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = URL(self.exporter.url + path, encoded=True)  # the probe is sent exactly as quoted
        async with aiohttp.ClientSession() as session, session.post(url, headers=headers, **kw) as resp:
            return resp.status, await resp.text()


def config(lab: DliSimulator, dc: DliSimulator, factory: DliSimulator) -> str:
    def dli(name: str, sim: DliSimulator, password: str) -> dict[str, Any]:
        return {"source": "dli", "name": name, "url": sim.url, "username": DEFAULT_USERNAME, "password": password}

    return yaml.safe_dump(
        {
            "global": {"interval": "1s", "timeout": "1s", "stale_after": "10m", "backoff_max": "1s", "jitter": 0.0},
            "targets": [dli("lab", lab, LAB_PASSWORD), dli("dc", dc, DC_PASSWORD), dli("factory", factory, "1234")],
            "actions": {
                "cooldown": "1h",
                "tokens": [
                    {"name": "lab", "token": LAB_TOKEN, "allow": [{"actions": ["*"], "targets": ["lab"]}]},
                    {"name": "alertmanager", "token": HOOK_TOKEN, "allow": [{"actions": ["*"], "targets": ["lab"]}]},
                ],
            },
            "remediation": {
                "token": "alertmanager",
                "rules": [
                    {
                        "name": "outlet-cycle",
                        "matchers": ['alertname="OutletDown"'],
                        "action": "dli.outlet_cycle",
                        "params": {"device": "{{ .Labels.device }}", "outlet": "{{ .Labels.outlet }}"},
                        "dry_run": True,
                    }
                ],
            },
        }
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with (
        DliSimulator("pro", password=LAB_PASSWORD) as lab,
        DliSimulator("pro", password=DC_PASSWORD) as dc,
        DliSimulator("pro", password=FACTORY_PASSWORD) as factory,
        ExporterProcess(tmp_path, config(lab, dc, factory)) as exp,
    ):
        for device in ("lab", "dc", "factory"):
            await exp.wait_for_sample("dli_outlet_info", None, device=device, outlet="1")
        yield Rig(exp)


def audit_lines(text: str) -> list[str]:
    """The audit lines in `text`, without what differs between any two requests (time, duration)."""
    return [
        re.sub(r"^ts=\S+ | seconds=\S+", "", line)
        for line in text.splitlines()
        if " msg=action " in line or " msg=remediation " in line
    ]


async def extend(probe_answer: Any) -> str:
    """The extension attack: grow the seed one character at a time while `probe_answer(piece)` says
    the 8-character piece occurs in a secret. Returns what it recovered."""
    known = SEED
    while True:
        for char in CHARSET:
            if await probe_answer(known[-7:] + char):
                known += char
                break
        else:
            return known


async def test_probing_names_with_a_valid_token_learns_no_password(rig: Rig) -> None:
    """A token allowed on `lab` probes names as devices: every answer is the same, whatever the name."""
    answers: set[tuple[int, str]] = set()

    async def redacted(piece: str) -> bool:
        status, text = await rig.post(f"/api/v1/dli/{quote(piece, safe='')}/reboot", LAB_TOKEN)
        answers.add((status, text))
        return "<redacted>" in text

    recovered = await extend(redacted)
    assert recovered == SEED, f"the attack recovered {recovered!r}"
    assert len(answers) == 1, answers
    # The factory password, and a number that is no secret: the same answers, for a name and an outlet.
    for path in ("/api/v1/dli/{}/reboot", "/api/v1/dli/lab/outlets/{}/cycle"):
        pair = {await rig.post(path.format(guess), LAB_TOKEN) for guess in (FACTORY_PASSWORD, "5678")}
        assert len(pair) == 1, pair
    logs = rig.exporter.logs()
    assert "<redacted>" not in logs and DC_PASSWORD not in logs


async def test_probing_names_without_a_token_learns_nothing_from_the_log(rig: Rig) -> None:
    """No token at all, but the attacker reads the log: the audit lines of a piece of a password, of
    the factory password, of a piece of the webhook's token and of plain text are one and the same."""
    probes = [SEED, FACTORY_PASSWORD, HOOK_TOKEN[:8], "zzzzzzzz"]
    answers = set()
    for probe in probes:
        before = len(audit_lines(rig.exporter.logs()))
        answers.add(await rig.post(f"/api/v1/dli/{quote(probe, safe='')}/reboot"))

        async def logged(before: int = before) -> bool:
            return len(audit_lines(rig.exporter.logs())) > before

        await rig.exporter.wait_for(logged, timeout=20, what=f"the audit line of probe {probe!r}")
    lines = audit_lines(rig.exporter.logs())
    assert len(lines) == len(probes), lines
    assert len(set(lines)) == 1, lines
    assert "<redacted>" not in lines[0] and "decision=unauthenticated" in lines[0]
    assert len(answers) == 1 and next(iter(answers))[0] == 401, answers


async def test_configured_names_are_named_and_log_keys_are_never_redacted(rig: Rig) -> None:
    """A configured target is still named in the audit, and a token that contains a logger's name
    ("remediation") no longer blanks every remediation line's logger and message."""
    body = payload(alert(fp="f1", alertname="OutletDown", device="lab", outlet="1"))
    status, text = await rig.post("/api/v1/remediation/alertmanager", HOOK_TOKEN, json=body)
    assert status == 200, text
    lines = audit_lines(rig.exporter.logs())
    assert any("logger=exporter.remediation msg=remediation " in line for line in lines), lines
    status, text = await rig.post("/api/v1/dli/dc/reboot", LAB_TOKEN)
    assert status == 403 and '"target": null' in text, "a token outside its rules learns nothing about dc"
    lines = audit_lines(rig.exporter.logs())
    assert any("level=info logger=exporter.actions msg=action" in line and " target=dc " in line for line in lines)
    assert any(" target=lab " in line and "decision=allowed" in line and "dry_run=true" in line for line in lines)
    assert "<redacted>" not in rig.exporter.logs()
