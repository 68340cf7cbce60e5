#!/usr/bin/env python3
"""Generate the Grafana dashboards in grafana/dashboards/ with grafana-foundation-sdk.

    pip install 'grafana-foundation-sdk==1769699379!11.6.0'   # dev-only, pinned
    python grafana/generate.py            # rewrite grafana/dashboards/*.json
    python grafana/generate.py --check    # exit 1 if the committed JSON is out of date

The JSON files are committed; edit this script, not the JSON. Conventions:
- every query uses the `$datasource` template variable (no `__inputs`), so the
  files work with file provisioning and with "Import dashboard" alike;
- every dashboard has `job` and `instance` variables taken from
  `powerstrip_exporter_build_info`, and device variables from `label_values()`
  on the vendors' `_info` metrics;
- every panel has a description and a unit;
- joins match on job and instance too, so several exporters polling the same
  devices never make a query fail with many-to-many matching.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphDrawStyle,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'job=~"$job",instance=~"$instance"'
TAGS = ["powerstrip", "powerstrip-exporter"]

# --------------------------------------------------------------------------- value mappings


def _map(*pairs: tuple[str, str, str]) -> list[Any]:
    return [
        ValueMap(
            {value: ValueMappingResult(text=text, color=color, index=i) for i, (value, text, color) in enumerate(pairs)}
        )
    ]


UP_DOWN = _map(("1", "Up", "green"), ("0", "Down", "red"))
ON_OFF = _map(("1", "On", "green"), ("0", "Off", "red"))
YES_NO_BAD = _map(("0", "No", "green"), ("1", "Yes", "orange"))
YES_NO_GOOD = _map(("1", "Yes", "green"), ("0", "No", "red"))
ACTIVE = _map(("1", "Active", "green"), ("0", "Inactive", "red"))
LOCKED = _map(("0", "No", "text"), ("1", "Locked", "orange"))
RELOAD = _map(("1", "OK", "green"), ("0", "Failed", "red"))


def _steps(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


GREEN = _steps((None, "green"))
ZERO_GOOD = _steps((None, "green"), (1, "red"))
ZERO_GOOD_WARN = _steps((None, "green"), (1, "orange"))
ZERO_BAD = _steps((None, "red"), (1, "green"))

# --------------------------------------------------------------------------- queries and panels


def q(
    expr: str, legend: str | None = None, *, ref: str = "A", instant: bool = False, fmt_table: bool = False
) -> Dataquery:
    query = Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend is not None:
        query = query.legend_format(legend)
    query = query.instant() if instant else query.range()
    if fmt_table:
        query = query.format(PromQueryFormat.TABLE)
    return query


def dli_real_power(selector: str) -> str:
    """Real power (W) per DLI bus: its power meter where the unit has one, else the rate of its energy
    counter. Never volts x amperes: that is apparent power (VA), and the gap is the power factor."""
    return (
        f"(dli_bus_power_watts{{{selector}}} or on(job, instance, device, bus)"
        f" rate(dli_bus_energy_joules_total{{{selector}}}[$__rate_interval]))"
    )


def dli_apparent_power(selector: str) -> str:
    """Apparent power (VA) per DLI bus: volts x amperes. Shown only with the unit `voltamp`."""
    return f"dli_bus_voltage_volts{{{selector}}} * on(job, instance, device, bus) dli_bus_current_amperes{{{selector}}}"


def _common(panel: Any, title: str, description: str, unit: str, span: int, height: int) -> Any:
    return panel.title(title).description(description).datasource(DS).unit(unit).span(span).height(height)


def stat_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Dataquery],
    *,
    mappings: list[Any] | None = None,
    thresholds: ThresholdsConfig = GREEN,
    text_mode: BigValueTextMode = BigValueTextMode.AUTO,
    background: bool = False,
    no_value: str | None = None,
    span: int = 4,
    height: int = 4,
) -> stat.Panel:
    panel = _common(stat.Panel(), title, description, unit, span, height)
    panel = (
        panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(BigValueGraphMode.NONE)
        .color_mode(BigValueColorMode.BACKGROUND if background else BigValueColorMode.VALUE)
        .text_mode(text_mode)
        .thresholds(thresholds)
    )
    if mappings:
        panel = panel.mappings(mappings)
    if no_value is not None:
        panel = panel.no_value(no_value)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def ts_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Dataquery],
    *,
    stack: bool = False,
    min_val: float | None = None,
    max_val: float | None = None,
    bars: bool = False,
    span: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    panel = _common(timeseries.Panel(), title, description, unit, span, height)
    panel = panel.legend(
        VizLegendOptions()
        .display_mode(LegendDisplayMode.TABLE)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "max", "lastNotNull"])
    ).fill_opacity(30 if stack else 10)
    if stack:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS)
    if min_val is not None:
        panel = panel.min(min_val)
    if max_val is not None:
        panel = panel.max(max_val)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def timeline_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Dataquery],
    mappings: list[Any],
    *,
    span: int = 24,
    height: int = 8,
) -> statetimeline.Panel:
    panel = _common(statetimeline.Panel(), title, description, unit, span, height)
    panel = (
        panel.mappings(mappings)
        .show_value(VisibilityMode.NEVER)
        .merge_values(True)
        .legend(
            VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True)
        )
    )
    for query in queries:
        panel = panel.with_target(query)
    return panel


def bar_panel(
    title: str, description: str, unit: str, query: Dataquery, *, span: int = 12, height: int = 8
) -> bargauge.Panel:
    panel = _common(bargauge.Panel(), title, description, unit, span, height)
    return (
        panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .orientation(VizOrientation.HORIZONTAL)
        .min(0)
        .with_target(query)
    )


def info_table(
    title: str, description: str, expr: str, columns: Sequence[tuple[str, str]], *, span: int = 24, height: int = 6
) -> table.Panel:
    """A table of one `_info` metric's labels. `columns` is (label, header) in display order."""
    panel = _common(table.Panel(), title, description, "none", span, height)
    names = [label for label, _ in columns]
    return (
        panel.with_target(q(expr, instant=True, fmt_table=True))
        .with_transformation(DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"names": names}}))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "indexByName": {label: i for i, label in enumerate(names)},
                    "renameByName": {label: header for label, header in columns},
                },
            )
        )
    )


def status_table(
    title: str,
    description: str,
    labels: Sequence[tuple[str, str]],
    values: Sequence[tuple[str, str, str, list[Any] | None]],
    *,
    span: int = 24,
    height: int = 8,
) -> table.Panel:
    """One row per series: label columns, then one column per instant query.

    `labels` is (label, header); `values` is (header, expr, unit, mappings). The
    queries are merged on their common labels, so each must carry the label columns.
    """
    panel = _common(table.Panel(), title, description, "none", span, height)
    refs = [chr(ord("A") + i) for i in range(len(values))]
    fields = [f"Value #{ref}" for ref in refs]
    names = [label for label, _ in labels] + fields
    rename = {label: header for label, header in labels}
    rename.update({field: header for field, (header, _, _, _) in zip(fields, values, strict=True)})
    for ref, (_, expr, _, _) in zip(refs, values, strict=True):
        panel = panel.with_target(q(expr, ref=ref, instant=True, fmt_table=True))
    panel = (
        panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"names": names}}))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"indexByName": {name: i for i, name in enumerate(names)}, "renameByName": rename},
            )
        )
    )
    for header, _, unit, mappings in values:
        props = [DynamicConfigValue(id_val="unit", value=unit)]
        if mappings:
            props.append(DynamicConfigValue(id_val="mappings", value=mappings))
            props.append(DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}))
        panel = panel.override_by_name(header, props)
    return panel


# --------------------------------------------------------------------------- dashboards


def _query_var(name: str, label: str, query: str, description: str, *, multi: bool) -> QueryVariable:
    var = (
        QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        var = var.multi(True).include_all(True).all_value(".+")
    return var


def base(uid: str, title: str, description: str, extra_vars: Iterable[QueryVariable]) -> Dashboard:
    dash = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("1m")
        .time("now-6h", "now")
        .annotation(
            AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
        .link(
            DashboardLink("Power strip dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["powerstrip"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus").regex(""))
        .with_variable(
            _query_var(
                "job",
                "Job",
                "label_values(powerstrip_exporter_build_info, job)",
                "Prometheus jobs that scrape a powerstrip-exporter.",
                multi=True,
            )
        )
        .with_variable(
            _query_var(
                "instance",
                "Exporter",
                'label_values(powerstrip_exporter_build_info{job=~"$job"}, instance)',
                "Exporter instances (shards or HA pairs) of the selected jobs.",
                multi=True,
            )
        )
    )
    for var in extra_vars:
        dash = dash.with_variable(var)
    return dash


def fleet_overview() -> Dashboard:
    ct = f'{SEL},network_id=~"$network"'
    dli = f'{SEL},device=~"$device"'
    dli_target = f'{SEL},source="dli",target=~"$device"'
    join_name = "on(job, instance, network_id, powerstrip_id) group_left(name)"
    dash = base(
        "powerstrip-fleet",
        "Power strips: fleet overview",
        "CloudTrax power strips and DLI power controllers on one page: what is up, what needs attention, where the "
        "power goes. If two exporters poll the same devices (an HA pair), select one of them as Exporter, "
        "or the counts and sums include each device twice.",
        [
            _query_var(
                "network",
                "CloudTrax network",
                f"label_values(cloudtrax_powerstrip_info{{{SEL}}}, network_id)",
                "CloudTrax networks (network_id) with power strips.",
                multi=True,
            ),
            _query_var(
                "device",
                "DLI controller",
                f"label_values(dli_device_info{{{SEL}}}, device)",
                "DLI power controllers by their configured name.",
                multi=True,
            ),
        ],
    )
    dash = (
        dash.with_row(Row("Status"))
        .with_panel(
            stat_panel(
                "CloudTrax strips up",
                "Number of CloudTrax power strips whose cloud status is up (cloudtrax_powerstrip_up = 1).",
                "short",
                [q(f"sum(cloudtrax_powerstrip_up{{{ct}}})", instant=True)],
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "CloudTrax strips down",
                "Number of CloudTrax power strips whose cloud status is not up. A down strip has no readings (the "
                "exporter drops the zeros CloudTrax reports for it).",
                "short",
                [q(f"sum(1 - cloudtrax_powerstrip_up{{{ct}}})", instant=True)],
                thresholds=ZERO_GOOD,
                background=True,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "Strips needing pairing",
                "Number of CloudTrax power strips waiting to be paired (cloudtrax_powerstrip_need_pairing = 1).",
                "short",
                [q(f"sum(cloudtrax_powerstrip_need_pairing{{{ct}}})", instant=True)],
                thresholds=ZERO_GOOD_WARN,
                background=True,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "Surge protection off",
                "Number of CloudTrax power strips that are up but report surge protection as inactive. Down strips "
                "are not counted.",
                "short",
                [
                    q(
                        f"count((cloudtrax_powerstrip_surge_protection_active{{{ct}}} == 0)"
                        f" and on(job, instance, network_id, powerstrip_id) (cloudtrax_powerstrip_up{{{ct}}} == 1))"
                        " or vector(0)",
                        instant=True,
                    )
                ],
                thresholds=ZERO_GOOD_WARN,
                background=True,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "DLI controllers up",
                "Number of DLI power controllers whose last poll by the exporter succeeded "
                "(powerstrip_exporter_target_up).",
                "short",
                [q(f"sum(powerstrip_exporter_target_up{{{dli_target}}})", instant=True)],
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "DLI controllers down",
                "Number of DLI power controllers the exporter currently fails to poll (unreachable, timeouts, bad "
                "credentials).",
                "short",
                [q(f"sum(1 - powerstrip_exporter_target_up{{{dli_target}}})", instant=True)],
                thresholds=ZERO_GOOD,
                background=True,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "Stale targets",
                "Exporter targets (CloudTrax networks, DLI controllers) without a successful poll for more than 3 of "
                "their "
                "poll intervals, including targets that never succeeded. All sources, regardless of the device "
                "filters.",
                "short",
                [
                    q(
                        f"count((time() - powerstrip_exporter_target_last_success_timestamp_seconds{{{SEL}}})"
                        f" > 3 * powerstrip_exporter_target_interval_seconds{{{SEL}}}) or vector(0)",
                        instant=True,
                    )
                ],
                thresholds=ZERO_GOOD,
                background=True,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                "Total power",
                "Real (active) power of all selected CloudTrax strips plus DLI controllers. DLI: the bus power "
                "meter where the unit has one, else the rate of the bus energy counter. Only watts are added: "
                "no volts x amperes (apparent power).",
                "watt",
                [
                    q(
                        f"sum(cloudtrax_powerstrip_power_watts{{{ct}}} or {dli_real_power(dli)}) or vector(0)",
                        instant=True,
                    )
                ],
                span=3,
            )
        )
        .with_row(Row("Devices"))
        .with_panel(
            status_table(
                "CloudTrax strips",
                "Every selected CloudTrax power strip with its status and readings. Sort by a column to find the "
                "strips "
                "that are down, need pairing or lack surge protection.",
                [("network_id", "Network"), ("powerstrip_id", "Strip"), ("name", "Name"), ("model", "Model")],
                [
                    (
                        "Cloud status",
                        f"cloudtrax_powerstrip_up{{{ct}}} * on(job, instance, network_id, powerstrip_id)"
                        f" group_left(name, model) cloudtrax_powerstrip_info{{{ct}}}",
                        "none",
                        UP_DOWN,
                    ),
                    ("Needs pairing", f"cloudtrax_powerstrip_need_pairing{{{ct}}}", "none", YES_NO_BAD),
                    ("Surge protection", f"cloudtrax_powerstrip_surge_protection_active{{{ct}}}", "none", ACTIVE),
                    ("Power", f"cloudtrax_powerstrip_power_watts{{{ct}}}", "watt", None),
                    ("Voltage", f"cloudtrax_powerstrip_voltage_volts{{{ct}}}", "volt", None),
                    (
                        "Checkin age",
                        f"time() - cloudtrax_powerstrip_last_checkin_timestamp_seconds{{{ct}}}",
                        "s",
                        None,
                    ),
                ],
                span=14,
                height=10,
            )
        )
        .with_panel(
            status_table(
                "DLI controllers",
                "Every selected DLI power controller: whether the exporter reaches it, and its outlets.",
                [("device", "Controller")],
                [
                    (
                        "Reachable",
                        f'label_replace(powerstrip_exporter_target_up{{{dli_target}}}, "device", "$1", "target", '
                        '"(.*)")',
                        "none",
                        UP_DOWN,
                    ),
                    (
                        "Outlets on",
                        f"sum by (job, instance, device) (dli_outlet_physical_state{{{dli}}})",
                        "short",
                        None,
                    ),
                    (
                        "Off but switched on",
                        f"count by (job, instance, device) ((dli_outlet_physical_state{{{dli}}} == 0)"
                        f" and on(job, instance, device, outlet) (dli_outlet_transient_state{{{dli}}} == 1))"
                        f" or sum by (job, instance, device) (dli_outlet_state{{{dli}}} * 0)",
                        "short",
                        None,
                    ),
                    ("Locked outlets", f"sum by (job, instance, device) (dli_outlet_locked{{{dli}}})", "short", None),
                ],
                span=10,
                height=10,
            )
        )
        .with_row(Row("Power"))
        .with_panel(
            ts_panel(
                "Total power per strip",
                "Active power of each CloudTrax strip (sum of its ports' active power), stacked.",
                "watt",
                [
                    q(
                        f"cloudtrax_powerstrip_power_watts{{{ct}}} * {join_name} cloudtrax_powerstrip_info{{{ct}}}",
                        "{{name}} ({{network_id}}/{{powerstrip_id}})",
                    )
                ],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Total power per network",
                "Active power of all CloudTrax strips in each network, stacked.",
                "watt",
                [q(f"sum by (network_id) (cloudtrax_powerstrip_power_watts{{{ct}}})", "network {{network_id}}")],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Power per DLI controller",
                "Real power drawn through each DLI controller, summed over its buses: the bus power meter where "
                "the unit has one, else the rate of the bus energy counter (an average over the rate interval).",
                "watt",
                [q(f"sum by (device) ({dli_real_power(dli)})", "{{device}}")],
                stack=True,
            )
        )
        .with_panel(
            bar_panel(
                "Top 10 ports by power",
                "The ten CloudTrax ports with the highest active power right now, with their strip and port label. "
                "DLI controllers do not meter single outlets.",
                "watt",
                q(
                    f"topk(10, cloudtrax_powerstrip_port_power_watts{{{ct}}}"
                    f" * on(job, instance, network_id, powerstrip_id, port) group_left(label)"
                    f" cloudtrax_powerstrip_port_info{{{ct}}}"
                    f" * {join_name} cloudtrax_powerstrip_info{{{ct}}})",
                    "{{name}} port {{port}} {{label}}",
                    instant=True,
                ),
            )
        )
    )
    return dash


def cloudtrax_strip() -> Dashboard:
    s = f'{SEL},network_id="$network",powerstrip_id="$powerstrip"'
    port_join = (
        f"on(job, instance, network_id, powerstrip_id, port) group_left(label) cloudtrax_powerstrip_port_info{{{s}}}"
    )
    dash = base(
        "powerstrip-cloudtrax",
        "Power strips: CloudTrax power strip",
        "One CloudTrax power strip: status, per-port electrical readings, supply voltage and frequency, energy, "
        "lifecycle.",
        [
            _query_var(
                "network",
                "Network",
                f"label_values(cloudtrax_powerstrip_info{{{SEL}}}, network_id)",
                "CloudTrax network (network_id).",
                multi=False,
            ),
            _query_var(
                "powerstrip",
                "Power strip",
                f'label_values(cloudtrax_powerstrip_info{{{SEL},network_id="$network"}}, powerstrip_id)',
                "CloudTrax power strip (powerstrip_id); its name is in the Strip info table.",
                multi=False,
            ),
        ],
    )

    def port_q(metric: str) -> Dataquery:
        return q(f"{metric}{{{s}}} * {port_join}", "{{port}}: {{label}}")

    dash = (
        dash.with_row(Row("Status"))
        .with_panel(
            stat_panel(
                "Cloud status",
                "CloudTrax's cloud_status for the strip (up, down, unknown, pairing, or other), green when up. "
                "While a strip is down CloudTrax reports zeros for its readings; the exporter drops them, so the "
                "readings below show no value.",
                "none",
                [
                    q(
                        f"cloudtrax_powerstrip_up{{{s}}} * on(job, instance, network_id, powerstrip_id)"
                        f" group_left(status) cloudtrax_powerstrip_cloud_status_info{{{s}}}",
                        "{{status}}",
                        instant=True,
                    )
                ],
                thresholds=ZERO_BAD,
                text_mode=BigValueTextMode.NAME,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Needs pairing",
                "Whether the strip waits to be paired with its network.",
                "none",
                [q(f"cloudtrax_powerstrip_need_pairing{{{s}}}", instant=True)],
                mappings=YES_NO_BAD,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Surge protection",
                "Whether the strip reports its surge protection as active.",
                "none",
                [q(f"cloudtrax_powerstrip_surge_protection_active{{{s}}}", instant=True)],
                mappings=ACTIVE,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Total power",
                "Active power of the strip: the sum of its ports' active power.",
                "watt",
                [q(f"cloudtrax_powerstrip_power_watts{{{s}}}", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Voltage",
                "Supply voltage measured by the strip; no value while it is down.",
                "volt",
                [q(f"cloudtrax_powerstrip_voltage_volts{{{s}}}", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Frequency",
                "Supply frequency measured by the strip; no value while it is down.",
                "hertz",
                [q(f"cloudtrax_powerstrip_frequency_hertz{{{s}}}", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Checkin age",
                "Time since the strip last checked in with CloudTrax. Its readings are as old as this checkin.",
                "s",
                [q(f"time() - cloudtrax_powerstrip_last_checkin_timestamp_seconds{{{s}}}", instant=True)],
                thresholds=_steps((None, "green"), (300, "orange"), (900, "red")),
                no_value="never",
            )
        )
        .with_panel(
            stat_panel(
                "Uptime",
                "Time since the strip booted (now minus its boot time, which is the last checkin minus the reported "
                "uptime).",
                "s",
                [q(f"time() - cloudtrax_powerstrip_boot_time_seconds{{{s}}}", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Ports",
                "Number of ports on the strip, how many are enabled, and how many are active.",
                "short",
                [
                    q(f"cloudtrax_powerstrip_ports{{{s}}}", "total", instant=True),
                    q(f"cloudtrax_powerstrip_enabled_ports{{{s}}}", "enabled", ref="B", instant=True),
                    q(f"cloudtrax_powerstrip_active_ports{{{s}}}", "active", ref="C", instant=True),
                ],
                text_mode=BigValueTextMode.VALUE_AND_NAME,
            )
        )
        .with_panel(
            stat_panel(
                "Subscription",
                "Whether the strip's CloudTrax subscription is active (empty when CloudTrax reports no subscription).",
                "none",
                [q(f"cloudtrax_powerstrip_subscription_active{{{s}}}", instant=True)],
                mappings=ACTIVE,
                background=True,
                no_value="unknown",
            )
        )
        .with_panel(
            stat_panel(
                "Subscription ends in",
                "Time until the subscription's end date (negative once it has passed; empty when no end date is "
                "known).",
                "s",
                [q(f"cloudtrax_powerstrip_subscription_end_timestamp_seconds{{{s}}} - time()", instant=True)],
                thresholds=_steps((None, "red"), (0, "orange"), (2592000, "green")),
                no_value="no end date",
            )
        )
        .with_panel(
            stat_panel(
                "End of life",
                "The vendor's end-of-life date for this strip, when announced.",
                "dateTimeAsIso",
                [q(f"cloudtrax_powerstrip_end_of_life_timestamp_seconds{{{s}}} * 1000", instant=True)],
                no_value="not announced",
            )
        )
        .with_row(Row("Ports"))
        .with_panel(
            ts_panel(
                "Port power",
                "Active (real) power per port, stacked: together they make the strip's total power.",
                "watt",
                [port_q("cloudtrax_powerstrip_port_power_watts")],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Port current",
                "Current per port, stacked: the top line is the strip's total current.",
                "amp",
                [port_q("cloudtrax_powerstrip_port_current_amperes")],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Port power factor",
                "Power factor per port (active / apparent power, 0 to 1). Idle ports read 0.",
                "none",
                [port_q("cloudtrax_powerstrip_port_power_factor_ratio")],
                min_val=0,
                max_val=1,
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Port apparent power",
                "Apparent power per port (volts x amperes).",
                "voltamp",
                [port_q("cloudtrax_powerstrip_port_apparent_power_voltamperes")],
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Port reactive power",
                "Reactive power per port.",
                "voltampreact",
                [port_q("cloudtrax_powerstrip_port_reactive_power_voltamperes_reactive")],
                span=8,
            )
        )
        .with_panel(
            bar_panel(
                "Energy per port over the range",
                "Energy used per port over the dashboard's time range: increase of the exporter's energy counter, "
                "which it integrates from CloudTrax usage samples (power x sample spacing).",
                "joule",
                q(
                    f"increase(cloudtrax_powerstrip_port_energy_joules_total{{{s}}}[$__range]) * {port_join}",
                    "{{port}}: {{label}}",
                    instant=True,
                ),
            )
        )
        .with_panel(
            status_table(
                "Port status",
                "Each port with its label, connection check, enabled flag and current readings.",
                [("port", "Port"), ("label", "Label"), ("connection_check", "Connection check")],
                [
                    (
                        "Enabled",
                        f"cloudtrax_powerstrip_port_enabled{{{s}}} * on(job, instance, network_id, powerstrip_id, port)"
                        f" group_left(label, connection_check) cloudtrax_powerstrip_port_info{{{s}}}",
                        "none",
                        YES_NO_GOOD,
                    ),
                    ("Power", f"cloudtrax_powerstrip_port_power_watts{{{s}}}", "watt", None),
                    ("Current", f"cloudtrax_powerstrip_port_current_amperes{{{s}}}", "amp", None),
                    ("Power factor", f"cloudtrax_powerstrip_port_power_factor_ratio{{{s}}}", "none", None),
                ],
                span=12,
            )
        )
        .with_row(Row("Supply"))
        .with_panel(
            ts_panel(
                "Supply voltage",
                "Supply voltage measured by the strip. Drops to 0 while the strip is down.",
                "volt",
                [q(f"cloudtrax_powerstrip_voltage_volts{{{s}}}", "voltage")],
            )
        )
        .with_panel(
            ts_panel(
                "Supply frequency",
                "Supply frequency measured by the strip. Drops to 0 while the strip is down.",
                "hertz",
                [q(f"cloudtrax_powerstrip_frequency_hertz{{{s}}}", "frequency")],
            )
        )
        .with_row(Row("Info"))
        .with_panel(
            info_table(
                "Strip info",
                "Identity of the strip as CloudTrax reports it.",
                f"cloudtrax_powerstrip_info{{{s}}}",
                [
                    ("name", "Name"),
                    ("powerstrip_id", "Strip"),
                    ("network_id", "Network"),
                    ("mac", "MAC"),
                    ("model", "Model"),
                    ("firmware_version", "Firmware"),
                    ("role", "Role"),
                    ("instance", "Exporter"),
                ],
                height=4,
            )
        )
        .with_panel(
            status_table(
                "Network power-strip settings",
                "Power-strip settings of the strip's network: firmware tag and feature switches.",
                [("network_id", "Network"), ("firmware_tag", "Firmware tag")],
                [
                    (
                        "Power switch",
                        f'cloudtrax_network_powerstrip_power_switch_enabled{{{SEL},network_id="$network"}}'
                        f" * on(job, instance, network_id) group_left(firmware_tag)"
                        f' cloudtrax_network_powerstrip_settings_info{{{SEL},network_id="$network"}}',
                        "none",
                        YES_NO_GOOD,
                    ),
                    (
                        "Mesh",
                        f'cloudtrax_network_powerstrip_mesh_enabled{{{SEL},network_id="$network"}}',
                        "none",
                        YES_NO_GOOD,
                    ),
                    (
                        "Auto upgrade",
                        f'cloudtrax_network_powerstrip_auto_upgrade_enabled{{{SEL},network_id="$network"}}',
                        "none",
                        YES_NO_GOOD,
                    ),
                ],
                span=12,
                height=5,
            )
        )
        .with_panel(
            info_table(
                "Available firmware",
                "Power-strip firmware versions CloudTrax offers for the strip's network.",
                f'cloudtrax_network_powerstrip_firmware_info{{{SEL},network_id="$network"}}',
                [("tag_id", "Tag id"), ("tag", "Tag"), ("build", "Build")],
                span=12,
                height=5,
            )
        )
    )
    return dash


def dli_controller() -> Dashboard:
    d = f'{SEL},device="$device"'
    outlet_join = f"on(job, instance, device, outlet) group_left(name) dli_outlet_info{{{d}}}"
    dash = base(
        "powerstrip-dli",
        "Power strips: DLI power controller",
        "One Digital Loggers power controller: outlet states, bus voltage, current, power and energy, temperatures "
        "and humidity.",
        [
            _query_var(
                "device",
                "Controller",
                f"label_values(dli_device_info{{{SEL}}}, device)",
                "DLI power controller by its configured name.",
                multi=False,
            )
        ],
    )
    dash = (
        dash.with_row(Row("Status"))
        .with_panel(
            stat_panel(
                "Exporter reachability",
                "Whether the exporter's last poll of this controller succeeded. See the Exporter health dashboard "
                "for failures.",
                "none",
                [q(f'powerstrip_exporter_target_up{{{SEL},source="dli",target="$device"}}', instant=True)],
                mappings=UP_DOWN,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Outlets on",
                "Number of outlets that are physically on.",
                "short",
                [q(f"sum(dli_outlet_physical_state{{{d}}})", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Off while switched on",
                "Outlets that are physically off although their current (transient) state is on: the relay does "
                "not follow. An outlet switched off on purpose, for now or for good, is not counted.",
                "short",
                [
                    q(
                        f"count((dli_outlet_physical_state{{{d}}} == 0)"
                        f" and on(job, instance, device, outlet) (dli_outlet_transient_state{{{d}}} == 1))"
                        " or vector(0)",
                        instant=True,
                    )
                ],
                thresholds=ZERO_GOOD_WARN,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Locked outlets",
                "Outlets that are locked: the controller refuses to switch them.",
                "short",
                [q(f"sum(dli_outlet_locked{{{d}}})", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Total power",
                "Real power of the controller, summed over its buses: the bus power meter where the unit has one, "
                "else the rate of the bus energy counter. Empty on models without meters.",
                "watt",
                [q(f"sum({dli_real_power(d)})", instant=True)],
                no_value="no meters",
            )
        )
        .with_panel(
            stat_panel(
                "Script threads",
                "Number of scripts running on the controller (empty when the exporter's user is not an admin).",
                "short",
                [q(f"dli_script_threads{{{d}}}", instant=True)],
                no_value="n/a",
            )
        )
        .with_row(Row("Outlets"))
        .with_panel(
            timeline_panel(
                "Outlet state: physical vs configured",
                "For each outlet, its physical state (what the relay does) next to its configured, persistent state. "
                "A cycle shows as a short physical gap; a long one while configured on means the load has no power.",
                "bool_on_off",
                [
                    q(f"dli_outlet_physical_state{{{d}}} * {outlet_join}", "{{outlet}} {{name}}: physical"),
                    q(f"dli_outlet_state{{{d}}} * {outlet_join}", "{{outlet}} {{name}}: configured", ref="B"),
                ],
                ON_OFF,
                height=10,
            )
        )
        .with_panel(
            status_table(
                "Outlets",
                "Every outlet (0-based, as in the DLI API) with its persistent, transient and physical state and its "
                "locked and critical flags.",
                [("outlet", "Outlet"), ("name", "Name")],
                [
                    ("Configured", f"dli_outlet_state{{{d}}} * {outlet_join}", "none", ON_OFF),
                    ("Transient", f"dli_outlet_transient_state{{{d}}}", "none", ON_OFF),
                    ("Physical", f"dli_outlet_physical_state{{{d}}}", "none", ON_OFF),
                    ("Locked", f"dli_outlet_locked{{{d}}}", "none", LOCKED),
                    (
                        "Critical",
                        f"dli_outlet_critical{{{d}}}",
                        "none",
                        _map(("0", "No", "text"), ("1", "Yes", "blue")),
                    ),
                ],
                height=10,
            )
        )
        .with_row(Row("Power"))
        .with_panel(
            ts_panel(
                "Bus voltage",
                "Voltage of each bus (zero-indexed). 0 V on one bus of a two-input controller means that feed is lost.",
                "volt",
                [q(f"dli_bus_voltage_volts{{{d}}}", "bus {{bus}}")],
            )
        )
        .with_panel(
            ts_panel(
                "Bus current",
                "Current drawn through each bus.",
                "amp",
                [q(f"dli_bus_current_amperes{{{d}}}", "bus {{bus}}")],
            )
        )
        .with_panel(
            ts_panel(
                "Bus power",
                "Real power of each bus: from its power meter where the unit has one, else the rate of its energy "
                "counter (an average over the rate interval, as fine as the unit's energy resolution).",
                "watt",
                [q(dli_real_power(d), "bus {{bus}}")],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Bus apparent power",
                "Apparent power of each bus: volts x amperes, in VA. It is at least the real power; the gap is the "
                "load's power factor. What the bus wiring and breakers carry.",
                "voltamp",
                [q(dli_apparent_power(d), "bus {{bus}}")],
                stack=True,
            )
        )
        .with_panel(
            bar_panel(
                "Bus energy over the range",
                "Energy drawn through each bus over the dashboard's time range (increase of the energy counter).",
                "joule",
                q(f"increase(dli_bus_energy_joules_total{{{d}}}[$__range])", "bus {{bus}}", instant=True),
            )
        )
        .with_row(Row("Environment"))
        .with_panel(
            ts_panel(
                "Temperature",
                "Temperature per sensor (internal board sensor and external probes), converted from kelvin.",
                "celsius",
                [q(f"dli_temperature_celsius{{{d}}}", "sensor {{sensor}}")],
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Humidity",
                "Relative humidity per external sensor.",
                "percentunit",
                [q(f"dli_humidity_ratio{{{d}}}", "sensor {{sensor}}")],
                min_val=0,
                max_val=1,
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Other voltages",
                "Voltages that belong to no bus, such as the battery and the CPU and relay supply rails.",
                "volt",
                [q(f"dli_voltage_volts{{{d}}}", "{{meter}}")],
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Other meters",
                "Meters of any other quantity, in the unit the controller reports them.",
                "short",
                [q(f"dli_meter_value{{{d}}}", "{{meter}} ({{quantity}})")],
                span=24,
                height=6,
            )
        )
        .with_row(Row("Info"))
        .with_panel(
            info_table(
                "Controller info",
                "Identity of the controller as it reports it.",
                f"dli_device_info{{{d}}}",
                [
                    ("device", "Controller"),
                    ("model", "Model"),
                    ("serial", "Serial"),
                    ("hostname", "Host name"),
                    ("firmware_version", "Firmware"),
                    ("relay_firmware_version", "Relay firmware"),
                    ("instance", "Exporter"),
                ],
                height=4,
            )
        )
        .with_panel(
            info_table(
                "Meters",
                "Every meter the controller reports, with its name and quantity.",
                f"dli_meter_info{{{d}}}",
                [("meter", "Meter"), ("name", "Name"), ("quantity", "Quantity")],
            )
        )
    )
    return dash


def exporter_health() -> Dashboard:
    t = f'{SEL},source=~"$source",target=~"$target"'
    src = f'{SEL},source=~"$source"'
    dash = base(
        "powerstrip-exporter",
        "Power strips: exporter health",
        "The powerstrip-exporter itself: CPU, memory and open files, target polls and failures, upstream API "
        "traffic and latency, actions, reloads.",
        [
            _query_var(
                "source",
                "Source",
                f"label_values(powerstrip_exporter_target_up{{{SEL}}}, source)",
                "Vendor source (cloudtrax, dli).",
                multi=True,
            ),
            _query_var(
                "target",
                "Target",
                f'label_values(powerstrip_exporter_target_up{{{SEL},source=~"$source"}}, target)',
                "Target: a CloudTrax network id or a DLI controller name.",
                multi=True,
            ),
        ],
    )
    dash = (
        dash.with_row(Row("Overview"))
        .with_panel(
            stat_panel(
                "Targets up",
                "Targets whose last poll succeeded.",
                "short",
                [q(f"sum(powerstrip_exporter_target_up{{{t}}})", instant=True)],
            )
        )
        .with_panel(
            stat_panel(
                "Targets down",
                "Targets whose last poll failed.",
                "short",
                [q(f"sum(1 - powerstrip_exporter_target_up{{{t}}})", instant=True)],
                thresholds=ZERO_GOOD,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Config reload",
                "Whether the last configuration reload of each exporter succeeded. A failed reload keeps the "
                "previous config.",
                "none",
                [q(f"powerstrip_exporter_config_last_reload_successful{{{SEL}}}", "{{instance}}", instant=True)],
                mappings=RELOAD,
                background=True,
            )
        )
        .with_panel(
            stat_panel(
                "Last successful reload",
                "Time since each exporter last loaded its configuration successfully (start-up counts as a load).",
                "s",
                [
                    q(
                        f"time() - powerstrip_exporter_config_last_reload_success_timestamp_seconds{{{SEL}}}",
                        "{{instance}}",
                        instant=True,
                    )
                ],
            )
        )
        .with_panel(
            stat_panel(
                "Version",
                "Exporter version and Python version, from powerstrip_exporter_build_info.",
                "none",
                [
                    q(
                        f"powerstrip_exporter_build_info{{{SEL}}}",
                        "{{instance}}: {{version}} (Python {{python_version}})",
                        instant=True,
                    )
                ],
                text_mode=BigValueTextMode.NAME,
            )
        )
        .with_panel(
            stat_panel(
                "Shard",
                "Which shard of the fleet each exporter polls (index of count), from powerstrip_exporter_shard_info.",
                "none",
                [
                    q(
                        f"powerstrip_exporter_shard_info{{{SEL}}}",
                        "{{instance}}: shard {{index}} of {{count}}",
                        instant=True,
                    )
                ],
                text_mode=BigValueTextMode.NAME,
                no_value="not sharded",
            )
        )
        .with_row(Row("Process"))
        .with_panel(
            ts_panel(
                "CPU",
                "CPU time the exporter process uses per second (1 = one core busy), from process_cpu_seconds_total.",
                "percentunit",
                [q(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}")],
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Memory",
                "Resident memory of the exporter process (process_resident_memory_bytes). docs/scaling.md says how "
                "much a fleet of a given size needs.",
                "bytes",
                [q(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")],
                span=8,
            )
        )
        .with_panel(
            ts_panel(
                "Open files",
                "Open file descriptors (devices, scrapers, logs) against the process limit. Near the limit, new "
                "connections fail.",
                "short",
                [
                    q(f"process_open_fds{{{SEL}}}", "{{instance}} open"),
                    q(f"process_max_fds{{{SEL}}}", "{{instance}} limit", ref="B"),
                ],
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                "Uptime",
                "Time since each exporter process started (process_start_time_seconds). A short uptime that keeps "
                "resetting means restarts.",
                "s",
                [q(f"time() - process_start_time_seconds{{{SEL}}}", "{{instance}}", instant=True)],
                span=12,
            )
        )
        .with_panel(
            stat_panel(
                "Virtual memory",
                "Virtual memory of the exporter process (process_virtual_memory_bytes).",
                "bytes",
                [q(f"process_virtual_memory_bytes{{{SEL}}}", "{{instance}}", instant=True)],
                span=12,
            )
        )
        .with_row(Row("Targets"))
        .with_panel(
            timeline_panel(
                "Target up",
                "Whether each target's polls succeed over time.",
                "none",
                [q(f"powerstrip_exporter_target_up{{{t}}}", "{{source}} {{target}} ({{instance}})")],
                UP_DOWN,
            )
        )
        .with_panel(
            ts_panel(
                "Time since last success",
                "Age of each target's last successful poll. It grows while polls fail or hang; a healthy target stays "
                "below its poll interval.",
                "s",
                [
                    q(
                        f"time() - (powerstrip_exporter_target_last_success_timestamp_seconds{{{t}}} > 0)",
                        "{{source}} {{target}}",
                    )
                ],
            )
        )
        .with_panel(
            ts_panel(
                "Poll duration",
                "How long each target's last poll took, successful or not.",
                "s",
                [q(f"powerstrip_exporter_target_poll_duration_seconds{{{t}}}", "{{source}} {{target}}")],
            )
        )
        .with_panel(
            ts_panel(
                "Polls",
                "Polls per minute per target, successful or not.",
                "opm",
                [
                    q(
                        "60 * sum by (source, target) "
                        f"(rate(powerstrip_exporter_target_polls_total{{{t}}}[$__rate_interval]))",
                        "{{source}} {{target}}",
                    )
                ],
            )
        )
        .with_panel(
            ts_panel(
                "Poll failures by reason",
                "Failed polls per minute by reason: timeout, connection, http_status, auth, rate_limited, "
                "bad_response, sample_limit.",
                "opm",
                [
                    q(
                        f"60 * sum by (source, target, reason)"
                        f" (rate(powerstrip_exporter_target_poll_failures_total{{{t}}}[$__rate_interval]))",
                        "{{source}} {{target}}: {{reason}}",
                    )
                ],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "Device values refused",
                "Values polls read but did not export, by reason: implausible_value is a value the device "
                "cannot have (a negative energy counter, a temperature below absolute zero). The rest of the "
                "poll is exported; the log names the series.",
                "short",
                [
                    q(
                        "sum by (source, target, reason)"
                        f" (increase(powerstrip_exporter_target_values_refused_total{{{t}}}[$__rate_interval]))",
                        "{{source}} {{target}}: {{reason}}",
                    )
                ],
                stack=True,
                span=24,
                height=6,
            )
        )
        .with_panel(
            status_table(
                "Target status",
                "Every target with its state, the age of its last success (empty if it never succeeded), its last "
                "poll's duration and its configured interval.",
                [("source", "Source"), ("target", "Target"), ("instance", "Exporter")],
                [
                    ("Up", f"powerstrip_exporter_target_up{{{t}}}", "none", UP_DOWN),
                    (
                        "Since last success",
                        f"time() - (powerstrip_exporter_target_last_success_timestamp_seconds{{{t}}} > 0)",
                        "s",
                        None,
                    ),
                    ("Last poll duration", f"powerstrip_exporter_target_poll_duration_seconds{{{t}}}", "s", None),
                    ("Interval", f"powerstrip_exporter_target_interval_seconds{{{t}}}", "s", None),
                ],
            )
        )
        .with_panel(
            status_table(
                "Discovery",
                "Groups that discover their targets (CloudTrax networks: all): whether the last listing "
                "succeeded, and failed listings in the last hour. Empty when no group discovers.",
                [("source", "Source"), ("group", "Group"), ("instance", "Exporter")],
                [
                    ("Up", f"powerstrip_exporter_discovery_up{{{SEL}}}", "none", UP_DOWN),
                    (
                        "Failures (1h)",
                        "sum by (job, instance, source, group) "
                        f"(increase(powerstrip_exporter_discovery_failures_total{{{SEL}}}[1h]))",
                        "short",
                        None,
                    ),
                ],
                span=12,
                height=5,
            )
        )
        .with_panel(
            status_table(
                "State files",
                "Each kind of state kept under --storage.path: whether its last write succeeded, and failed "
                "writes in the last hour. Empty without a storage path.",
                [("kind", "Kind"), ("instance", "Exporter")],
                [
                    ("Last write", f"powerstrip_exporter_state_last_write_successful{{{SEL}}}", "none", UP_DOWN),
                    (
                        "Failures (1h)",
                        "sum by (job, instance, kind) "
                        f"(increase(powerstrip_exporter_state_write_failures_total{{{SEL}}}[1h]))",
                        "short",
                        None,
                    ),
                ],
                span=12,
                height=5,
            )
        )
        .with_row(Row("Upstream API"))
        .with_panel(
            ts_panel(
                "API request rate",
                "Requests per second the exporter sends to vendor APIs and devices, by endpoint.",
                "reqps",
                [
                    q(
                        "sum by (source, endpoint) "
                        f"(rate(powerstrip_exporter_api_request_duration_seconds_count{{{src}}}[$__rate_interval]))",
                        "{{source}} {{endpoint}}",
                    )
                ],
                stack=True,
            )
        )
        .with_panel(
            ts_panel(
                "API latency by source",
                "Median, 95th and 99th percentile of upstream request duration per source (from the histogram).",
                "s",
                [
                    q(
                        f"histogram_quantile({quantile}, sum by (source, le)"
                        f" (rate(powerstrip_exporter_api_request_duration_seconds_bucket{{{src}}}[$__rate_interval])))",
                        f"{{{{source}}}} p{label}",
                        ref=ref,
                    )
                    for quantile, label, ref in (("0.5", "50", "A"), ("0.95", "95", "B"), ("0.99", "99", "C"))
                ],
            )
        )
        .with_panel(
            ts_panel(
                "API latency by endpoint (p95)",
                "95th percentile of upstream request duration per endpoint.",
                "s",
                [
                    q(
                        f"histogram_quantile(0.95, sum by (source, endpoint, le)"
                        f" (rate(powerstrip_exporter_api_request_duration_seconds_bucket{{{src}}}[$__rate_interval])))",
                        "{{source}} {{endpoint}}",
                    )
                ],
            )
        )
        .with_panel(
            ts_panel(
                "API average latency by endpoint",
                "Mean upstream request duration per endpoint (histogram sum / count).",
                "s",
                [
                    q(
                        "sum by (source, endpoint) "
                        f"(rate(powerstrip_exporter_api_request_duration_seconds_sum{{{src}}}[$__rate_interval]))"
                        f" / sum by (source, endpoint)"
                        f" (rate(powerstrip_exporter_api_request_duration_seconds_count{{{src}}}[$__rate_interval]))",
                        "{{source}} {{endpoint}}",
                    )
                ],
            )
        )
        .with_panel(
            ts_panel(
                "CloudTrax energy readings refused",
                "Usage readings the derived CloudTrax energy counter refused, by reason (future_time, null, "
                "not_finite, negative, too_large, unknown_port). Each costs only its own interval; a null is a hole, "
                "not zero.",
                "short",
                [
                    q(
                        "sum by (reason) "
                        f"(increase(cloudtrax_network_energy_samples_rejected_total{{{SEL}}}[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
                stack=True,
            )
        )
        .with_row(Row("Actions"))
        .with_panel(
            ts_panel(
                "Action attempts",
                "Action requests per minute (reboot, port reset, outlet cycle), allowed or not.",
                "opm",
                [
                    q(
                        "60 * sum by (source, action) "
                        f"(rate(powerstrip_exporter_actions_total{{{src}}}[$__rate_interval]))",
                        "{{source}} {{action}}",
                    )
                ],
            )
        )
        .with_panel(
            ts_panel(
                "Action failures by reason",
                "Failed or refused action requests per minute by reason: unauthenticated, forbidden, not_found, "
                "invalid, "
                "cooldown, upstream, timeout.",
                "opm",
                [
                    q(
                        f"60 * sum by (source, action, reason)"
                        f" (rate(powerstrip_exporter_action_failures_total{{{src}}}[$__rate_interval]))",
                        "{{source}} {{action}}: {{reason}}",
                    )
                ],
                stack=True,
            )
        )
        .with_panel(
            bar_panel(
                "Actions over the range",
                "Action requests over the dashboard's time range, by source and action.",
                "short",
                q(
                    f"sum by (source, action) (increase(powerstrip_exporter_actions_total{{{src}}}[$__range]))",
                    "{{source}} {{action}}",
                    instant=True,
                ),
            )
        )
        .with_panel(
            bar_panel(
                "Action failures over the range",
                "Failed or refused action requests over the dashboard's time range, by reason.",
                "short",
                q(
                    f"sum by (source, reason) (increase(powerstrip_exporter_action_failures_total{{{src}}}[$__range]))",
                    "{{source}}: {{reason}}",
                    instant=True,
                ),
            )
        )
    )
    return with_remediation_row(dash)


def with_remediation_row(dash: Dashboard) -> Dashboard:
    """Alertmanager-driven remediation: what the rules decided, and whose circuit breaker is open."""
    return (
        dash.with_row(Row("Remediation"))
        .with_panel(
            timeline_panel(
                "Remediation breakers",
                "Each remediation rule's circuit breaker: open once the rule was asked for more actions in an hour "
                "than its budget allows; it then acts on nothing until breaker_reset passes or someone closes it "
                "(a reload does not).",
                "none",
                [q(f"max by (rule) (powerstrip_exporter_remediation_breaker_open{{{SEL}}})", "{{rule}}")],
                _map(("0", "closed", "green"), ("1", "open", "red")),
                span=12,
            )
        )
        .with_panel(
            ts_panel(
                "Remediation results",
                "Alerts the remediation rules decided on per minute, by rule and result (acted, dry_run, duplicate, "
                "too_early, invalid, refused, limited, breaker_open, failed), and the verification of acted ones "
                "(recovered, not_recovered).",
                "opm",
                [
                    q(
                        "60 * sum by (rule, result) "
                        f"(rate(powerstrip_exporter_remediations_total{{{SEL}}}[$__rate_interval]))",
                        "{{rule}}: {{result}}",
                    )
                ],
                span=12,
            )
        )
    )


DASHBOARDS = {
    "powerstrip-fleet-overview.json": fleet_overview,
    "powerstrip-cloudtrax.json": cloudtrax_strip,
    "powerstrip-dli.json": dli_controller,
    "powerstrip-exporter-health.json": exporter_health,
}


def _tidy(model: dict[str, Any]) -> dict[str, Any]:
    """Post-process the SDK's output.

    - Every panel (rows included) gets a stable, unique id in layout order.
    - The SDK writes the interval-only keys `auto`, `auto_min` and `auto_count`
      on every variable; Grafana's dashboard types know them on none, and they
      mean nothing on query and datasource variables, so they are dropped.
    """
    for i, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = i
    for var in model.get("templating", {}).get("list", []):
        if var.get("type") != "interval":
            for key in ("auto", "auto_min", "auto_count"):
                var.pop(key, None)
    return model


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    out: dict[str, str] = {}
    for filename, build in DASHBOARDS.items():
        model = json.loads(json.dumps(build().build(), cls=JSONEncoder))
        out[filename] = json.dumps(_tidy(model), indent=2, ensure_ascii=False) + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: grafana/dashboards)")
    args = parser.parse_args(argv)
    stale = []
    for filename, text in render().items():
        path = args.out / filename
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(filename)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
