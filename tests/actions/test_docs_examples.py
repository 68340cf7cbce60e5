"""The curl examples in docs/actions.md work against `powerstrip-exporter demo`, with real curl."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.process import free_port

pytestmark = pytest.mark.process  # every test here starts a process (tests/support/lanes.py)

DOC = Path(__file__).resolve().parents[2] / "docs" / "actions.md"


def demo_commands() -> list[str]:
    text = DOC.read_text()
    block = text.split("## Trying it on the demo", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


def test_docs_curl_examples_against_the_demo(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is needed to run the documented examples"
    commands = demo_commands()
    assert len(commands) >= 6
    port = free_port()
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "demo", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        token = None
        deadline = time.monotonic() + 30
        for _ in range(300):
            match = re.search(r"Action API token for this demo: (\S+)", (tmp_path / "demo.log").read_text())
            ready = subprocess.run(
                [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/-/ready"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            if match and ready == "200":
                token = match.group(1)
                break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(0.1)
        assert token, "the demo never printed a token and became ready"
        for command in commands:
            command = command.replace("127.0.0.1:9795", f"127.0.0.1:{port}")
            result = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=30, env={**os.environ, "TOKEN": token}
            )
            assert result.returncode == 0, (command, result.stderr)
            answer = json.loads(result.stdout)
            if "Authorization" in command:
                assert answer["ok"] is True, (command, answer)
            else:
                assert answer == {
                    "ok": False,
                    "action": "dli.reboot",
                    "target": None,
                    "detail": "missing bearer token",
                    "upstream_status": None,
                }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
    log_lines = [line for line in (tmp_path / "demo.log").read_text().splitlines() if line.startswith("ts=")]
    assert any("msg=action" in line for line in log_lines)
    assert not any(token in line for line in log_lines), "the token is printed once for the user, never logged"
