"""The deployment files through the real tools, offline: `kubectl kustomize` builds the kustomizations
(every object it outputs is checked against the Kubernetes API schemas, `promtool` checks the rules
of the PrometheusRule), and `systemd-analyze` verifies and rates the systemd unit.

What `systemd-analyze verify` can check without a running systemd, and what this test makes it
check: the unit's syntax, every key is one systemd knows (an unknown key is only a warning, so any
output fails the test), the dependencies resolve against Debian's unit files, and every `Exec*=`
program exists and is executable. For that it runs against a scratch root (`--root`) holding the
host's unit files, the unit installed in /etc/systemd/system and a stub for each program the unit
starts. Whether the exporter runs under those restrictions is not tested here: no systemd runs here.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.ops.opslib import find_binary

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIR = REPO / "deploy" / "kubernetes"
UNIT = REPO / "deploy" / "systemd" / "powerstrip-exporter.service"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
MAX_EXPOSURE = 20
"""`systemd-analyze security` rates 0 (locked down) to 100 (exposed); 20 is its "OK" band (1.1 today)."""


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kw)


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomization is only checked file by file (test_deploy.py)")
    built = _run([kubectl, "kustomize", str(directory)])
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture
def filled_in(tmp_path: Path) -> Path:
    """deploy/kubernetes as docs/deploy.md has you prepare it: secret.env from its example, filled in."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE_DIR, copy)
    lines = (copy / "secret.env.example").read_text().splitlines()
    (copy / "secret.env").write_text(
        "".join(f"{line}{secrets.token_hex(32)}\n" if line.endswith("=") else f"{line}\n" for line in lines)
    )
    return copy


def test_kustomize_build_gives_valid_objects_that_refer_to_each_other(filled_in: Path) -> None:
    objects = _kustomize(filled_in)
    by_kind = {doc["kind"]: doc for doc in objects}
    assert sorted(by_kind) == ["ConfigMap", "Secret", "Service", "StatefulSet"] and len(objects) == 4
    for doc in objects:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    config, secret = by_kind["ConfigMap"], by_kind["Secret"]
    assert config["data"] == {"config.yml": (KUSTOMIZE_DIR / "config.yml").read_text()}
    keys = [line.split("=")[0] for line in (filled_in / "secret.env").read_text().splitlines() if "=" in line]
    assert sorted(secret["data"]) == sorted(keys)
    pod = by_kind["StatefulSet"]["spec"]["template"]["spec"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in pod["containers"][0]["envFrom"]
    assert {"name": "config", "configMap": {"name": config["metadata"]["name"]}} in pod["volumes"]
    assert re.fullmatch(r"powerstrip-exporter-[a-z0-9]{10}", config["metadata"]["name"]), "a change rolls the pods"


def test_kustomize_build_refuses_to_run_without_the_secret_file(tmp_path: Path) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUSTOMIZE_DIR, copy, ignore=shutil.ignore_patterns("secret.env"))
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    built = _run([kubectl, "kustomize", str(copy)])
    assert built.returncode != 0 and "secret.env" in built.stderr


def test_prometheus_operator_kustomization_builds_and_its_rules_load(tmp_path: Path) -> None:
    objects = _kustomize(KUSTOMIZE_DIR / "prometheus-operator")
    assert sorted(doc["kind"] for doc in objects) == ["PrometheusRule", "ServiceMonitor"]
    (rule,) = [doc for doc in objects if doc["kind"] == "PrometheusRule"]
    promtool = find_binary("promtool")
    assert promtool is not None, "promtool is installed by the project's test command (.ci/run)"
    (tmp_path / "rules.yml").write_text(json.dumps({"groups": rule["spec"]["groups"]}))
    checked = _run([promtool, "check", "rules", str(tmp_path / "rules.yml")])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _systemd_analyze() -> str:
    found = find_binary("systemd-analyze")
    if found is None or not SYSTEM_UNITS.is_dir():
        pytest.fail("systemd-analyze is missing: apt-get install systemd (the project's test command does)")
    return found


def _scratch_root(tmp_path: Path, unit_text: str) -> Path:
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    (root / "etc" / "systemd" / "system" / UNIT.name).write_text(unit_text)
    for program in re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", unit_text, re.M):
        stub = root / program.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    return root


def _verify(tmp_path: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    root = _scratch_root(tmp_path, unit_text)
    return _run([_systemd_analyze(), "verify", f"--root={root}", "--man=no", "--generators=no", UNIT.name])


def test_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = _verify(tmp_path, UNIT.read_text())
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_systemd_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    result = _verify(tmp_path, UNIT.read_text().replace("ProtectSystem=", "ProtectSystm="))
    assert "Unknown key 'ProtectSystm'" in result.stderr


def test_systemd_unit_is_locked_down(tmp_path: Path) -> None:
    root = _scratch_root(tmp_path, UNIT.read_text())
    rated = _run(
        [_systemd_analyze(), "security", "--offline=yes", f"--root={root}", f"--threshold={MAX_EXPOSURE}", UNIT.name]
    )
    assert rated.returncode == 0, rated.stdout + rated.stderr
    exposed = _run([_systemd_analyze(), "security", "--offline=yes", f"--root={root}", "--threshold=5", UNIT.name])
    assert exposed.returncode != 0, "the threshold is enforced"
