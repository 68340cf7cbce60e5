"""`powerstrip-exporter demo` as a user runs it: the URL and token are printed only once they work,
and a busy port ends it with one line."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import socket
import sys

import aiohttp

from tests.support.process import free_port


async def test_demo_on_a_busy_port_fails_with_one_line_and_no_token() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exporter", "demo", "--web.listen-address", f"127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 1
    assert out == b"", "nothing is promised before the port is bound"
    assert err.decode().splitlines() == [
        f"powerstrip-exporter demo: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


async def test_demo_prints_its_url_and_token_once_they_work() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "demo", "--web.listen-address", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(120):
            while not (lines and lines[-1].lstrip().startswith("API description: ")):
                line = await proc.stdout.readline()
                assert line, f"demo ended early: {lines}"
                lines.append(line.decode().rstrip("\n"))
        [token] = [line.rsplit(" ", 1)[1] for line in lines if line.startswith("Action API token for this demo: ")]
        assert f"Open http://127.0.0.1:{port}/" in "\n".join(lines)
        # The example the banner prints, run as printed: it works on the first try.
        [example] = [shlex.split(line) for line in lines if line.lstrip().startswith("curl ")]
        assert example[:3] == ["curl", "-X", "POST"] and example[3] == "-H", example
        header, url = example[4], example[5]
        assert header == f"Authorization: Bearer {token}" and "dry_run=true" in url, example
        # No waiting: at the moment the token is printed, the listener answers and accepts it.
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.get(f"http://127.0.0.1:{port}/-/healthy") as resp:
                assert resp.status == 200
            async with session.post(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                answer = await resp.json()
                assert resp.status == 200 and answer["ok"] is True, answer
                assert answer["detail"].startswith("dry run: would "), answer
            async with session.post(url, headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            # The landing page links everything a new user looks for, and every link opens.
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                page = await resp.text()
            links = re.findall(r'<a href="([^"]+)">', page)
            assert {"/metrics", "/config", "/runbook", "/-/ready", "/api/v1/openapi.json"} <= set(links), links
            for link in links:
                async with session.get(f"http://127.0.0.1:{port}{link}") as resp:
                    assert resp.status == 200, link
            # The demo fleet's down strips show at a glance, without opening anything.
            assert re.search(r'<td class="up">up</td><td>\d+ strips, <span class="attention">1 down</span>', page)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)
    assert proc.returncode == 0


async def test_simulate_serves_each_simulator_through_the_command_line() -> None:
    """`powerstrip-exporter simulate NAME` reaches the simulator package, which parses its own options."""
    for name, args, ready, path, status in (
        ("dli", ["--model", "pro"], "dli pro simulator: ", "/restapi/relay/outlets/", 401),  # digest auth asked for
        ("cloudtrax", ["--strips", "2", "--networks", "1"], "CloudTrax simulator listening on ", "/time", 200),
    ):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exporter", "simulate", name, "--port", "0", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(120):
                while True:
                    line = (await proc.stdout.readline()).decode()
                    assert line, f"simulate {name} ended early"
                    if line.startswith(ready):
                        break
            url = line.removeprefix(ready).strip()
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                session.get(url + path) as resp,
            ):
                assert resp.status == status, await resp.text()
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=60)


async def test_simulate_help_lists_the_simulators() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", "simulate", "--help",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0
    assert "cloudtrax" in out.decode() and "dli" in out.decode()
