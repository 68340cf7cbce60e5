"""From the demo to your own config, as the files tell a new user to do it, through the real CLI:
config.example.yaml's numbered steps run in a shell as written (with a value for each `...`), and the
Kubernetes config with the variables of its secret.env, must both pass `--config.check`."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _clean_env() -> dict[str, str]:
    """Nothing from this machine's environment: only what the steps export reaches the exporter."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ["HOME"]}


def documented_steps() -> list[str]:
    """The shell commands of the header's numbered steps (comment lines that start a command)."""
    header = (REPO / "config.example.yaml").read_text().split("\n\n", 1)[0]
    commands = re.findall(r"^#\s+(?:\d\.\s+)?((?:cp|export|powerstrip-exporter) .*)$", header, re.M)
    return [re.sub(r"\s{2,}(#|\().*$", "", command) for command in commands]


def test_config_example_steps_give_a_clean_config_check(tmp_path: Path) -> None:
    steps = documented_steps()
    assert [step.split()[0] for step in steps] == ["cp", "export", "export", "powerstrip-exporter"], steps
    shutil.copy(REPO / "config.example.yaml", tmp_path)
    script = "set -e\n" + "\n".join(step.replace("...", secrets.token_hex(32)) for step in steps)
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("config.yml: OK (3 target entries)"), done.stdout
    assert "warning" not in (done.stdout + done.stderr).lower()


def test_kubernetes_config_checks_with_its_secret_env(tmp_path: Path) -> None:
    deploy = REPO / "deploy" / "kubernetes"
    env = _clean_env()
    for line in (deploy / "secret.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            env[line.split("=", 1)[0]] = secrets.token_hex(32)
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(deploy / "config.yml"), "--config.check"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
