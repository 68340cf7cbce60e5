"""The container image recipe and the Kubernetes manifests, checked without Docker or a cluster:
the Kubernetes objects against the API's schemas (offline, `kubernetes-validate`), the pieces of the
kustomization against each other, the prometheus-operator objects against prometheus/, the image's
health check and pins against the code that serves them. `test_deploy_process.py` builds the
kustomization and checks the systemd unit with the real tools."""

from __future__ import annotations

import json
import re
import shlex
import shutil
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
KUSTOMIZE_DIR = REPO / "deploy" / "kubernetes"
OPERATOR_DIR = KUSTOMIZE_DIR / "prometheus-operator"
KUSTOMIZATION = yaml.safe_load((KUSTOMIZE_DIR / "kustomization.yaml").read_text())
MANIFESTS = [KUSTOMIZE_DIR / name for name in KUSTOMIZATION["resources"]]
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


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in _documents() if doc["kind"] == kind]
    return doc


def _generator(kind: str) -> dict[str, Any]:
    (generator,) = KUSTOMIZATION[kind]
    return generator  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest_beside_it() -> None:
    """No manifest is left out of `kubectl apply -k`, and every listed one exists."""
    beside = {path.name for path in KUSTOMIZE_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == beside
    assert {doc["kind"] for _, doc in _documents()} == {"Service", "StatefulSet"}
    assert (KUSTOMIZE_DIR / _generator("configMapGenerator")["files"][0]).is_file()
    (env_file,) = _generator("secretGenerator")["envs"]
    assert (KUSTOMIZE_DIR / f"{env_file}.example").is_file()
    assert f"deploy/kubernetes/{env_file}" in (REPO / ".gitignore").read_text().split(), "secrets stay out of git"


def _env_file_keys(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def test_secret_holds_every_variable_the_config_names() -> None:
    config = yaml.safe_load((KUSTOMIZE_DIR / _generator("configMapGenerator")["files"][0]).read_text())
    named = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", json.dumps(config)))
    (env_file,) = _generator("secretGenerator")["envs"]
    assert named and sorted(named) == sorted(_env_file_keys(KUSTOMIZE_DIR / f"{env_file}.example"))
    container = _one("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": _generator("secretGenerator")["name"]}} in container["envFrom"]
    assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})], "envFrom passes them all"


def test_config_map_is_mounted_where_the_exporter_reads_it() -> None:
    pod = _one("StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == _generator("configMapGenerator")["name"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    (name,) = _generator("configMapGenerator")["files"]
    assert f"--config.file={mount['mountPath']}/{name}" in pod["containers"][0]["args"][0]


def test_every_replica_has_a_stable_address() -> None:
    """A headless Service named by the StatefulSet gives pod K the DNS name
    powerstrip-exporter-K.powerstrip-exporter.<namespace>.svc, which Alertmanager and Prometheus reach."""
    service, statefulset = _one("Service"), _one("StatefulSet")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    pod = statefulset["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def _operator(kind: str) -> dict[str, Any]:
    docs = [
        yaml.safe_load((OPERATOR_DIR / name).read_text()) for name in ("servicemonitor.yaml", "prometheusrule.yaml")
    ]
    (doc,) = [doc for doc in docs if doc["kind"] == kind]
    return doc


def _operator_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "prometheus-operator.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.process
def test_prometheus_operator_objects_are_generated_from_prometheus_dir() -> None:
    """Regenerate with `python scripts/prometheus-operator.py` after changing prometheus/."""
    result = _operator_script("--check")
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load((OPERATOR_DIR / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(path.name for path in OPERATOR_DIR.glob("*.yaml") if path.stem != "kustomization")


@pytest.mark.process
def test_a_changed_alert_is_caught_as_drift(tmp_path: Path) -> None:
    prometheus = tmp_path / "prometheus"
    shutil.copytree(REPO / "prometheus", prometheus)
    alerts = prometheus / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("for: 5m", "for: 6m", 1))
    result = _operator_script("--check", "--prometheus-dir", str(prometheus))
    assert result.returncode == 1 and "prometheusrule.yaml" in result.stderr


def test_prometheus_rule_carries_every_shipped_group_unchanged() -> None:
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    shipped = [
        g for name in config["rule_files"] for g in yaml.safe_load((REPO / "prometheus" / name).read_text())["groups"]
    ]
    assert _operator("PrometheusRule")["spec"]["groups"] == shipped
    assert any(rule.get("alert") for group in shipped for rule in group["rules"])


def test_service_monitor_scrapes_the_service_as_the_shipped_job_does() -> None:
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "powerstrip"]
    spec = _operator("ServiceMonitor")["spec"]
    service = _one("Service")
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["interval"] == job.get("scrape_interval", config["global"]["scrape_interval"])
    assert endpoint["scrapeTimeout"] == job.get("scrape_timeout", config["global"]["scrape_timeout"])


def _unit() -> dict[str, list[str]]:
    """`key -> values` of the systemd unit, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "deploy" / "systemd" / "powerstrip-exporter.service").read_text())
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_systemd_unit_keeps_state_in_its_state_directory_and_runs_unprivileged() -> None:
    unit = _unit()
    (command,) = unit["ExecStart"]
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command is None and args.listen == [":9795"]
    assert Path(args.storage_path) == Path("/var/lib") / unit["StateDirectory"][0]
    assert Path(args.config_file).parent == Path("/etc") / unit["ConfigurationDirectory"][0]
    assert unit["DynamicUser"] == ["yes"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"] and unit["CapabilityBoundingSet"] == [""]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "SIGHUP reloads the config"
