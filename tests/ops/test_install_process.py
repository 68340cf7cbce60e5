"""The README's install, run as a new user runs it: its own command line, in a fresh virtualenv, from a
fresh clone, with pyenv's interpreter and with Debian's system `python3`. The installed demo must
start and `--version` and `powerstrip_exporter_build_info` must name the clone's commit and a build
date (a plain `pip install .` used to leave them "unknown"). And the image's install steps, on just
the files the Dockerfile copies (the build hook must be among them)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.process import free_port, parse_metrics, value

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")
BUILD_DATE = r"\d{8}-\d\d:\d\d:\d\d"


def readme_install() -> tuple[list[str], list[str]]:
    """The README's one-line install and demo: (the steps before the demo, the demo's argv)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (line,) = [line for line in re.findall(r"```sh\n(.*?)```", text, re.S) if line.startswith("python3 -m venv")]
    *steps, demo = line.strip().split(" && ")
    assert demo.endswith(" demo"), demo
    return steps, demo.split()


def interpreters() -> list[object]:
    base = Path(sys.base_prefix) / "bin" / "python3"
    found: list[object] = [pytest.param(base, id="this-python")]
    absent = pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian system python3 here")
    found.append(pytest.param(DEBIAN_PYTHON, id="debian", marks=absent))
    return found


def run(argv: list[str] | str, cwd: Path, env: dict[str, str], *, shell: bool = False) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, shell=shell, check=False)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    src = tmp_path_factory.mktemp("clone") / "powerstrip-exporter"
    run(["git", "clone", "--quiet", str(REPO), str(src)], REPO, dict(os.environ))
    return src


async def _demo_metrics(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *argv, "--web.listen-address", f"127.0.0.1:{port}",
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):
            while not (line := (await proc.stdout.readline()).decode()).startswith("Open http://"):
                assert line, "the installed demo ended early"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            return await resp.text()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("python", interpreters())
async def test_readme_install_in_a_fresh_venv_records_the_revision(clone: Path, python: Path, tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    run(["git", "clone", "--quiet", str(clone), str(work)], tmp_path, dict(os.environ))
    revision = run(["git", "rev-parse", "HEAD"], work, dict(os.environ)).strip()
    branch = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], work, dict(os.environ)).strip()
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(python)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"

    steps, demo = readme_install()
    run(" && ".join(steps), work, env, shell=True)

    assert not (work / "exporter" / "build_info.json").exists(), "the build records into the build, not the checkout"
    version = run([str(work / ".venv" / "bin" / "powerstrip-exporter"), "--version"], tmp_path, env)
    assert version.startswith(f"powerstrip-exporter, version 0.1.0 (branch: {branch}, revision: {revision})\n"), version
    (build_date,) = re.findall(r"^  build date: +(\S+)$", version, re.M)
    assert re.fullmatch(BUILD_DATE, build_date), version
    python_version = run([str(python), "-c", "import platform; print(platform.python_version())"], work, env).strip()

    samples = parse_metrics(await _demo_metrics([str(work / demo[0]), *demo[1:]], tmp_path, env))
    labels = {"revision": revision, "branch": branch, "build_date": build_date, "python_version": python_version}
    assert value(samples, "powerstrip_exporter_build_info", **labels) == 1


def _dockerfile_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of the Dockerfile."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    copies = [line.split()[1:] for line in text.splitlines() if line.startswith("COPY ")]
    return [(parts[:-1], parts[-1]) for parts in copies]


@pytest.mark.timeout(900)
def test_image_build_steps_install_from_what_the_dockerfile_copies(tmp_path: Path) -> None:
    """No Docker here: the image's build context (only the files the Dockerfile copies, no .git) gets
    the image's two install steps, and the build arguments reach `--version`."""
    src = tmp_path / "src"
    for sources, destination in _dockerfile_copies():
        into = destination.endswith("/")
        for source in sources:
            target = src / destination / Path(source).name if into else src / destination
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__", "build_info.json"))
            else:
                shutil.copy(REPO / source, target)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    python = str(Path(sys.base_prefix) / "bin" / "python3")
    run([python, "-m", "exporter.buildinfo", "--revision", "f00dcafe", "--branch", "release-2"], src, env)
    run([python, "-m", "venv", str(tmp_path / "venv")], tmp_path, env)
    run([str(tmp_path / "venv" / "bin" / "pip"), "install", "--constraint", "requirements.lock", "."], src, env)
    version = run([str(tmp_path / "venv" / "bin" / "powerstrip-exporter"), "--version"], tmp_path, env)
    assert version.startswith("powerstrip-exporter, version 0.1.0 (branch: release-2, revision: f00dcafe)\n"), version
