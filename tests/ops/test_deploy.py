"""The container image recipe and the Kubernetes manifest, checked without Docker or a cluster:
the Kubernetes objects against the API's schemas (offline, `kubernetes-validate`), the image's
health check and pins against the code that serves them."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from exporter.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
MEASURED_5000_STRIPS_BYTES = 354e6
"""RSS of one process polling 5,000 strips (docs/scaling.md)."""


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_base_image_is_pinned_to_an_exact_version() -> None:
    (base,) = [args for keyword, args in instructions() if keyword == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base


def test_healthcheck_uses_the_subcommand_with_flags_the_cli_accepts() -> None:
    (check,) = [args for keyword, args in instructions() if keyword == "HEALTHCHECK"]
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command[:2] == ["powerstrip-exporter", "healthcheck"]
    args = build_parser().parse_args(command[1:])
    assert args.command == "healthcheck" and args.args_from_pid == 1
    assert "127.0.0.1:9795" not in check, "the probe follows the configured address"


def test_default_command_parses() -> None:
    (cmd,) = [args for keyword, args in instructions() if keyword == "CMD"]
    args = build_parser().parse_args(json.loads(cmd))
    assert args.command is None and args.listen == [":9795"]


def test_dependencies_install_from_the_lock_and_build_info_is_recorded() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    copies = " ".join(args for keyword, args in instructions() if keyword == "COPY")
    assert "requirements.lock" in copies
    assert re.search(r"pip install [^&]*--constraint requirements\.lock \.", runs), runs
    assert "python -m exporter.buildinfo" in runs and '"$REVISION"' in runs and '"$BRANCH"' in runs
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "requirements.lock" not in ignored


@pytest.mark.process
def test_lock_pins_every_runtime_dependency_within_range() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lock-requirements.py"), "--check", str(REPO / "requirements.lock")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    pinned = {line.split("==")[0] for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line}
    assert {"aiohttp", "prometheus-client", "pydantic", "pyyaml", "structlog", "bcrypt"} <= pinned


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize(("path", "doc"), _documents(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"])
def test_manifest_matches_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_a_manifest_error_is_caught() -> None:
    """The validation above can fail: a misspelt field is refused."""
    (statefulset,) = [doc for _, doc in _documents() if doc["kind"] == "StatefulSet"]
    broken = json.loads(json.dumps(statefulset))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def _memory_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units.get(unit, 1)


def test_statefulset_is_locked_down_and_sized_as_documented() -> None:
    (statefulset,) = [doc for _, doc in _documents() if doc["kind"] == "StatefulSet"]
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    limit = container["resources"]["limits"]["memory"]
    assert _memory_bytes(limit) >= 1.25 * MEASURED_5000_STRIPS_BYTES, limit
    assert f"limited to **{limit}** of memory" in (REPO / "docs" / "scaling.md").read_text()
    args = shlex.split(container["args"][0].replace('"$SHARD_COUNT"', "3").replace('"${POD_NAME##*-}"', "0"))
    parsed = build_parser().parse_args(args[2:])
    assert parsed.command is None and parsed.listen == [":9795"]
