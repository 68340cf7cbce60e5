"""The examples in docs/remediation.md are valid for the exporter, promtool and amtool as written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config.loader import parse_config
from exporter.sources.registry import load_sources

DOC = Path(__file__).resolve().parents[2] / "docs" / "remediation.md"


def blocks(*containing: str) -> list[str]:
    found = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [b for b in found if all(c in b for c in containing)]


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed", pytrace=False)
    return path


def test_the_exporter_config_loads_with_the_breaker_close_token(tmp_path: Path) -> None:
    [text] = blocks("actions:\n", "remediation:\n")
    [oncall] = blocks("remediation.breaker_close")
    token = tmp_path / "token"
    token.write_text("a-remediation-token-of-some-length\n")
    other = tmp_path / "other"
    other.write_text("an-on-call-token-of-some-length\n")
    text = text.replace("/run/secrets/powerstrip-remediation-token", str(token))
    config = parse_config(text, load_sources())
    [rule] = config.remediation.rules
    assert (rule.action, rule.max_per_target, rule.target_window) == ("dli.outlet_cycle", 1, 3600.0)
    raw = yaml.safe_load(text)
    extra = yaml.safe_load(oncall.replace("/run/secrets/powerstrip-oncall-token", str(other)))
    raw["actions"]["tokens"] += extra["actions"]["tokens"]
    tokens = {t.name: t for t in parse_config(yaml.safe_dump(raw), load_sources()).actions.tokens}
    [allow] = tokens["oncall"].allow
    assert (allow.actions, allow.targets) == (["remediation.breaker_close"], [rule.name])


@pytest.mark.process
@pytest.mark.parametrize("example", ["worked example", "one webhook per replica"])
def test_the_alertmanager_configs_pass_amtool(tmp_path: Path, example: str) -> None:
    [fleet] = blocks("webhook_configs:", "powerstrip-exporter-1.")
    [worked] = [b for b in blocks("webhook_configs:") if b != fleet]
    text = worked if example == "worked example" else fleet
    token = tmp_path / "token"
    token.write_text("a-remediation-token-of-some-length\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text(text.replace("/etc/alertmanager/powerstrip-remediation-token", str(token)))
    result = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.process
def test_the_prometheus_rule_and_scrape_config_pass_promtool(tmp_path: Path) -> None:
    [rules] = blocks("groups:")
    (tmp_path / "rules.yml").write_text(rules)
    [scrape] = blocks("scrape_configs:")
    config = {**yaml.safe_load(scrape), "rule_files": ["rules.yml"]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
