"""Alert and recording rules, their promtool unit tests, and the Prometheus/Alertmanager wiring."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops import opslib
from tests.ops.metric_names import KNOWN_SERIES, LABELS, family_of
from tests.ops.opslib import runbook_url_template

UNIT_TESTS = ["alerts_test.yml", "alerts_thresholds_missing_test.yml"]
PREFIX = "PowerStrip"


# --------------------------------------------------------------------------- promtool / amtool


def test_promtool_check_rules(promtool: str) -> None:
    result = opslib.run(
        [promtool, "check", "rules", "--lint-fatal", "rules.yml", "alerts.yml"], cwd=opslib.PROMETHEUS_DIR
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config_loads_rule_files(promtool: str, tmp_path: Path) -> None:
    # Run from elsewhere: rule_files must resolve relative to prometheus.yml itself.
    result = opslib.run([promtool, "check", "config", str(opslib.PROMETHEUS_DIR / "prometheus.yml")], cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "SUCCESS: 2 rule files found" in out
    assert re.search(r"Checking \S*alerts\.yml\s+SUCCESS: \d+ rules found", out), out


def test_promtool_test_rules(promtool: str) -> None:
    result = opslib.run([promtool, "test", "rules", *UNIT_TESTS], cwd=opslib.PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS), result.stdout


def test_promtool_check_rules_rejects_bad_promql(promtool: str, prometheus_copy: Path) -> None:
    """The check can fail: a broken expression is reported."""
    path = prometheus_copy / "alerts.yml"
    path.write_text(path.read_text().replace("cloudtrax_powerstrip_up == 0", "cloudtrax_powerstrip_up == == 0", 1))
    result = opslib.run([promtool, "check", "rules", "alerts.yml"], cwd=prometheus_copy)
    assert result.returncode != 0
    assert "alerts.yml" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("severity: critical", "severity: warning", id="changed-severity"),
        pytest.param("vector(120)", "vector(110)", id="changed-threshold"),
        pytest.param("vector(230)", "vector(240)", id="changed-high-nominal"),
        pytest.param("for: 5m", "for: 1m", id="changed-for"),
        pytest.param("/runbook{{ end }}#powerstripclouddown", "/help{{ end }}#powerstripclouddown", id="changed-link"),
        pytest.param(
            "timestamp(powerstrip_exporter_target_last_success_timestamp_seconds)", "time()", id="stale-at-evaluation"
        ),
        pytest.param(
            "unless on(job, instance, source, target) (powerstrip_exporter_target_up == 0)", "", id="stale-down"
        ),
        pytest.param(
            "quantile_over_time(0.5, cloudtrax_powerstrip_voltage_volts[1d])",
            "cloudtrax_powerstrip_voltage_volts",
            id="strip-nominal-from-latest",
        ),
        pytest.param(
            "quantile_over_time(0.5, dli_bus_voltage_volts[1d])", "dli_bus_voltage_volts", id="bus-nominal-from-latest"
        ),
        pytest.param(
            'status="down"} == 1)\n          and', 'status=~".+"} == 1)\n          and', id="any-status-pages"
        ),
        pytest.param("dli_outlet_transient_state == 1", "dli_outlet_state == 1", id="physically-off-vs-persistent"),
        pytest.param("vector(2592000)", "vector(1296000)", id="changed-subscription-notice"),
        pytest.param(
            "for: 5m\n        labels:\n          severity: info", "labels:\n          severity: info", id="no-for"
        ),
    ],
)
def test_promtool_unit_tests_catch_rule_changes(promtool: str, prometheus_copy: Path, old: str, new: str) -> None:
    """The unit tests can fail: an altered rule no longer matches its expectations."""
    target = prometheus_copy / ("rules.yml" if old.startswith(("vector", "quantile")) else "alerts.yml")
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    result = opslib.run([promtool, "test", "rules", *UNIT_TESTS], cwd=prometheus_copy)
    assert result.returncode != 0, result.stdout
    assert "FAILED" in result.stdout + result.stderr


def test_amtool_check_config(amtool: str) -> None:
    result = opslib.run([amtool, "check-config", "alertmanager.yml"], cwd=opslib.PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config_rejects_undefined_receiver(amtool: str, prometheus_copy: Path) -> None:
    path = prometheus_copy / "alertmanager.yml"
    path.write_text(path.read_text().replace("receiver: powerstrip-info", "receiver: nobody", 1))
    result = opslib.run([amtool, "check-config", "alertmanager.yml"], cwd=prometheus_copy)
    assert result.returncode != 0
    assert "undefined receiver" in result.stdout + result.stderr


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_alertmanager_routes_by_severity(amtool: str, severity: str) -> None:
    result = opslib.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            "--config.file=alertmanager.yml",
            f"--verify.receivers=powerstrip-{severity}",
            f"severity={severity}",
            "alertname=PowerStripCloudDown",
        ],
        cwd=opslib.PROMETHEUS_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"powerstrip-{severity}"


def test_alertmanager_receivers_are_webhooks() -> None:
    config = opslib.load_yaml(opslib.PROMETHEUS_DIR / "alertmanager.yml")
    for receiver in config["receivers"]:
        assert receiver.get("webhook_configs"), receiver["name"]
        for hook in receiver["webhook_configs"]:
            assert hook["url"].startswith("http"), hook


# --------------------------------------------------------------------------- alert conventions

REQUIRED_ALERTS = {
    # The 14 situations operators must be alerted to, and the alert that covers each.
    "strip down in the cloud": "PowerStripCloudDown",
    "strip needs pairing": "PowerStripNeedsPairing",
    "surge protection inactive": "PowerStripSurgeProtectionInactive",
    "checkin stale": "PowerStripCheckinStale",
    "voltage out of range": "PowerStripVoltageOutOfRange",
    "port or bus current near rating": "PowerStripPortCurrentNearRating",
    "DLI temperature high": "PowerStripDLITemperatureHigh",
    "DLI outlet physically off while configured on": "PowerStripDLIOutletPhysicallyOff",
    "exporter target down": "PowerStripExporterTargetDown",
    "exporter target stale": "PowerStripExporterTargetStale",
    "exporter actions failing": "PowerStripExporterActionsFailing",
    "config reload failed": "PowerStripExporterConfigReloadFailed",
    "subscription ending within 30 days": "PowerStripSubscriptionEndingSoon",
    "strip past end of life": "PowerStripEndOfLife",
}


def test_required_alerts_exist(alert_rules: list[dict[str, Any]]) -> None:
    names = {rule["alert"] for rule in alert_rules}
    missing = {what: name for what, name in REQUIRED_ALERTS.items() if name not in names}
    assert not missing
    assert {"PowerStripDLIBusVoltageOutOfRange", "PowerStripDLIBusCurrentNearRating"} <= names


def test_alert_names_labels_and_annotations(alert_rules: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in alert_rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alert_rules:
        name = rule["alert"]
        assert re.fullmatch(rf"{PREFIX}[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        ann = rule["annotations"]
        assert set(ann) >= {"summary", "description", "runbook_url"}, name
        assert "{{" not in ann["summary"], f"{name}: summary must be static"
        assert "{{" in ann["description"], f"{name}: description must be templated"
        assert ann["runbook_url"] == runbook_url_template(name.lower()), name


def test_runbook_has_a_section_per_alert(alert_rules: list[dict[str, Any]]) -> None:
    anchors = opslib.markdown_anchors(opslib.DOCS_DIR / "runbook.md")
    for rule in alert_rules:
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in anchors, f"docs/runbook.md has no section for #{anchor}"
    sections = {a for a in anchors if a.startswith(PREFIX.lower())}
    assert sections == {r["alert"].lower() for r in alert_rules}, "runbook sections without an alert"


def test_alerts_use_known_metrics_and_labels(
    alert_rules: list[dict[str, Any]], recording_rules: list[dict[str, Any]]
) -> None:
    recorded = {rule["record"] for rule in recording_rules}
    allowed = KNOWN_SERIES | recorded | {"up", "powerstrip_threshold:.+"}
    for rule in alert_rules:
        names = opslib.metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= allowed, f"{rule['alert']}: unknown metrics {names - allowed}"
        for metric, label in opslib.selector_labels(rule["expr"]):
            if metric in KNOWN_SERIES:
                assert label in LABELS[family_of(metric)] | {"job", "instance"}, f"{rule['alert']}: {metric}{{{label}}}"


def test_thresholds_live_only_in_rules_yml(
    alert_rules: list[dict[str, Any]], recording_rules: list[dict[str, Any]]
) -> None:
    thresholds = {r["record"]: r["expr"] for r in recording_rules if r["record"].startswith("powerstrip_threshold:")}
    assert len(thresholds) == 11
    for record, expr in thresholds.items():
        assert re.fullmatch(r"vector\([0-9.]+\)", expr), f"{record}: a threshold is a plain constant"
    # Used by an alert, or by a recording rule an alert uses (the nominal voltages).
    used = {
        name
        for rule in recording_rules
        if not rule["record"].startswith("powerstrip_threshold:")
        for name in opslib.metric_names(rule["expr"])
    }
    for rule in alert_rules:
        used |= {n for n in opslib.metric_names(rule["expr"]) if n.startswith("powerstrip_threshold:")}
        # Comparisons of device readings go against a threshold rule, not a literal number.
        assert not re.search(r"(?:volts|amperes|celsius)\s*[<>]=?\s*[0-9]", rule["expr"]), rule["alert"]
    assert set(thresholds) <= used, f"thresholds no alert uses: {set(thresholds) - used}"
    missing = next(r for r in alert_rules if r["alert"] == "PowerStripAlertThresholdsMissing")
    assert f">= {len(thresholds)}" in missing["expr"]


def test_joins_match_on_job_and_instance(alert_rules: list[dict[str, Any]]) -> None:
    """Several exporters polling the same devices must not break a join (many-to-many)."""
    for rule in alert_rules:
        for m in re.finditer(r"\bon\(([^)]*)\)", rule["expr"]):
            labels = {label.strip() for label in m.group(1).split(",") if label.strip()}
            if labels:  # on() against a label-less threshold is fine
                assert {"job", "instance"} <= labels, f"{rule['alert']}: on({m.group(1)})"


FREE_TEXT_LABELS = {"name", "label", "mac", "model", "firmware_version", "connection_check", "hostname", "serial"}
"""Labels of the `_info` metrics: names and descriptions that may change, never part of an alert's identity."""


def test_alert_labels_keep_ids_only(alert_rules: list[dict[str, Any]]) -> None:
    """No alert copies an `_info` metric's free-text labels into its labels (a rename would re-notify)."""
    for rule in alert_rules:
        assert not re.search(r"group_(left|right)\s*\(\s*[a-z]", rule["expr"]), f"{rule['alert']}: joins labels in"
        assert not FREE_TEXT_LABELS & set(rule.get("labels", {})), rule["alert"]
        for text in rule["annotations"].values():
            assert "$labels.name" not in text and "$labels.label" not in text, rule["alert"]


def test_documented_runbook_setting_moves_every_link(promtool: str, prometheus_copy: Path) -> None:
    """The commented-out setting in rules.yml, uncommented as documented, becomes every alert's link base."""
    rules = prometheus_copy / "rules.yml"
    text = rules.read_text(encoding="utf-8")
    block = text[text.index("  # - name: powerstrip-settings") :]
    assert opslib.RUNBOOK_SETTING in block
    rules.write_text(text.replace(block, re.sub(r"^  # ", "  ", block, flags=re.M)), encoding="utf-8")
    base = "https://powerstrip-exporter.example.com:9795/runbook"
    case = {
        "rule_files": ["rules.yml", "alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": "powerstrip_exporter_config_last_reload_successful"
                        '{job="powerstrip",instance="exporter:9795"}',
                        "values": "0x10",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "8m",
                        "alertname": "PowerStripExporterConfigReloadFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "job": "powerstrip", "instance": "exporter:9795"},
                                "exp_annotations": {
                                    "summary": "The exporter failed to reload its configuration.",
                                    "description": "The last configuration reload of exporter exporter:9795 (job "
                                    "powerstrip) failed. It keeps running with the previous configuration.",
                                    "runbook_url": f"{base}#powerstripexporterconfigreloadfailed",
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (prometheus_copy / "setting_test.yml").write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
    result = opslib.run([promtool, "test", "rules", "setting_test.yml"], cwd=prometheus_copy)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- unit-test coverage


def _alert_cases() -> dict[str, dict[str, list[dict[str, Any]]]]:
    cases: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in UNIT_TESTS:
        doc = yaml.safe_load((opslib.PROMETHEUS_DIR / name).read_text())
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "silent"
                cases.setdefault(case["alertname"], {"fires": [], "silent": []})[kind].append(case)
    return cases


def test_every_alert_has_a_firing_and_a_silent_unit_test(alert_rules: list[dict[str, Any]]) -> None:
    cases = _alert_cases()
    for rule in alert_rules:
        name = rule["alert"]
        assert cases.get(name, {}).get("fires"), f"{name}: no unit test where it fires"
        assert cases[name]["silent"], f"{name}: no unit test where it stays silent"
        for case in cases[name]["fires"]:
            for exp in case["exp_alerts"]:
                assert exp["exp_labels"]["severity"] == rule["labels"]["severity"], name
                assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url"}, name
    unknown = set(cases) - {rule["alert"] for rule in alert_rules}
    assert not unknown, f"unit tests for alerts that do not exist: {unknown}"


def test_fast_rules_for_live_tests(promtool: str, tmp_path: Path) -> None:
    rules, alerts = opslib.write_fast_rules(tmp_path)
    result = opslib.run([promtool, "check", "rules", str(rules), str(alerts)])
    assert result.returncode == 0, result.stdout + result.stderr
    fast = opslib.load_yaml(alerts)
    shipped = opslib.load_yaml(opslib.PROMETHEUS_DIR / "alerts.yml")
    pairs = zip(
        (r for g in fast["groups"] for r in g["rules"]), (r for g in shipped["groups"] for r in g["rules"]), strict=True
    )
    for fast_rule, rule in pairs:
        assert fast_rule["for"] == "1s"
        assert {k: v for k, v in fast_rule.items() if k != "for"} == {k: v for k, v in rule.items() if k != "for"}


def test_missing_tools_fail_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opslib, "find_binary", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"promtool is not installed.*\.ci/run.*apt-get install"):
        opslib.require_binary("promtool")
