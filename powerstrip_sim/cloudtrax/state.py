"""The simulated fleet: networks and strips whose readings drift with time.

Readings are pure functions of (strip, port, time) plus the strip's state, so a
fleet of thousands of strips costs a few objects each and nothing per tick, and
overlapping usage windows agree with each other. Seeded strips serve the vendor
document's payloads verbatim until something changes them.
"""

from __future__ import annotations

import copy
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from powerstrip_sim.cloudtrax import seed
from powerstrip_sim.cloudtrax.errors import SimApiError, missing_parameter, not_found
from powerstrip_sim.cloudtrax.options import SimulatorOptions
from powerstrip_sim.mains import NORTH_AMERICA, Mains

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
FIRMWARE_TAG_RE = re.compile(r"^[a-z0-9]+$")
DEFAULT_FIRMWARE = "6.4.6-c3b6f768496b73473b45a06b478bf2e75c6cdd5e"
PORTS_PER_STRIP = 6
DEVICE_LABELS = ("Router", "Modem", "Switch", "NAS", "Monitor", "Laptop Hub", "Camera", "Phone base", "AP", "Printer")


def iso(t: float | None) -> str:
    """RFC 3339 UTC with milliseconds, trailing zeros trimmed as the API does (".26Z", ".232Z", "Z")."""
    if t is None:
        return ""
    dt = datetime.fromtimestamp(t, UTC)
    millis = f"{dt.microsecond // 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{millis}" if millis else "") + "Z"


def iso_seconds(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SimPort:
    port_id: int
    label: str
    enable: bool = True
    connection_check_name: str | None = None
    load_w: float = 0.0
    """Nominal active power when on; 0 is an idle port."""
    power_factor: float = 0.9
    phase: float = 0.0
    down_until: float = 0.0
    """A reset port (or a rebooting strip) reads zero until then."""


@dataclass
class SimStrip:
    powerstrip_id: int
    network_id: int
    mac: str
    name: str
    created: float
    model: str = "P60"
    description: str = ""
    role: str = "repeater"
    firmware_version: str = DEFAULT_FIRMWARE
    online: bool = True
    need_pairing: bool = False
    enable_pairing: bool = False
    enable_power_switch: bool = False
    enable_connection_check: bool = False
    enable_connection_check_during_maintenance: bool = False
    connection_check_max_retries: int = 0
    connection_check_time_between_retries: int = 60
    enable_mesh: bool = False
    surge_protection_active: bool = True
    voltage: float = 118.0
    frequency: float = 60.0
    boot_at: float | None = None
    checkin_at: float | None = None
    last_modified: float = 0.0
    ip: str | None = ""
    mesh_ip: str = ""
    lifecycle: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None
    ports: list[SimPort] = field(default_factory=list)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    connection_checks: list[dict[str, Any]] = field(default_factory=list)
    phase: float = 0.0
    fixed_list: dict[str, Any] | None = None
    fixed_get: dict[str, Any] | None = None
    fixed_usage: list[dict[str, Any]] | None = None

    def unfreeze(self) -> None:
        """A change makes a seeded strip a simulated one (it keeps the seeded values)."""
        self.fixed_list = self.fixed_get = self.fixed_usage = None

    def is_up(self) -> bool:
        return self.online and self.boot_at is not None

    def last_checkin(self, now: float, interval: float) -> float | None:
        if not self.is_up() or self.boot_at is None:
            return self.checkin_at
        ticks = max(0.0, math.floor((now - self.boot_at) / interval) * interval)
        periodic = self.boot_at + ticks
        return periodic if self.checkin_at is None else max(periodic, self.checkin_at)

    def voltage_at(self, t: float) -> float:
        if not self.is_up():
            return 0.0
        return round(self.voltage + 1.5 * math.sin(2 * math.pi * t / 1800.0 + self.phase), 1)

    def reading(self, port: SimPort, t: float, *, live: bool = True) -> dict[str, float]:
        """Port readings at time t; `live` also honours resets and reboots in progress."""
        zero = {"current_a": 0.0, "apparent_power_va": 0.0, "active_power_w": 0.0, "reactive_power_var": 0.0}
        if not self.is_up() or not port.enable or port.load_w <= 0 or (live and port.down_until > t):
            return {**zero, "power_factor": 0.0}
        wobble = 0.12 * math.sin(2 * math.pi * t / 900.0 + port.phase) + 0.04 * math.sin(
            2 * math.pi * t / 97.0 + 2 * port.phase
        )
        power = round(max(0.1, port.load_w * (1.0 + wobble)), 1)
        pf = round(min(0.99, max(0.3, port.power_factor + 0.02 * math.sin(2 * math.pi * t / 600.0 + port.phase))), 2)
        apparent = round(power / pf, 1)
        reactive = round(math.sqrt(max(0.0, apparent**2 - power**2)), 1)
        volts = self.voltage_at(t) or self.voltage
        return {
            "current_a": round(apparent / volts, 2),
            "apparent_power_va": apparent,
            "active_power_w": power,
            "reactive_power_var": reactive,
            "power_factor": pf,
        }


@dataclass
class SimNetwork:
    network_id: int
    name: str
    settings: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(seed.SETTINGS))
    firmware_versions: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(seed.FIRMWARE_VERSIONS))
    strip_ids: list[int] = field(default_factory=list)
    upgrades_expedited: int = 0


class FleetState:
    """All networks and strips, and every state change the API can make."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.networks: dict[int, SimNetwork] = {}
        self.strips: dict[int, SimStrip] = {}
        self._next_strip_id = 1000

    # -- building ----------------------------------------------------------

    def add_network(self, network_id: int, name: str = "") -> SimNetwork:
        network = self.networks.get(network_id)
        if network is None:
            network = SimNetwork(network_id, name or f"network-{network_id}")
            self.networks[network_id] = network
        return network

    def add_strip(self, strip: SimStrip) -> SimStrip:
        if strip.powerstrip_id in self.strips:
            raise ValueError(f"powerstrip {strip.powerstrip_id} exists")
        self.add_network(strip.network_id).strip_ids.append(strip.powerstrip_id)
        self.strips[strip.powerstrip_id] = strip
        self._next_strip_id = max(self._next_strip_id, strip.powerstrip_id + 1)
        return strip

    def new_strip_id(self) -> int:
        sid = self._next_strip_id
        self._next_strip_id += 1
        return sid

    def generate_strip(self, network_id: int, rng: random.Random, now: float, mains: Mains | None = None) -> SimStrip:
        """A plausible strip: most up, a few idle ports, some with subscription/lifecycle data.

        Its supply is `mains`, else the simulator's (`SimulatorOptions.mains`)."""
        mains = mains or self.options.mains
        sid = self.new_strip_id()
        ports = []
        for port_id in range(1, PORTS_PER_STRIP + 1):
            busy = rng.random() < 0.6
            ports.append(
                SimPort(
                    port_id=port_id,
                    label=rng.choice(DEVICE_LABELS) if busy else str(port_id),
                    load_w=round(rng.uniform(3.0, 60.0), 1) if busy else 0.0,
                    power_factor=round(rng.uniform(0.5, 0.95), 2),
                    phase=rng.uniform(0, 2 * math.pi),
                )
            )
        created = now - rng.uniform(30, 900) * 86400
        uptime = rng.uniform(600, 40 * 86400)
        subscription = None
        if rng.random() < 0.5:
            evergreen = rng.random() < 0.5
            subscription = {
                "is_active": rng.random() < 0.9,
                "start_date": iso_seconds(created),
                "end_date": None if evergreen else iso_seconds(now + rng.uniform(30, 900) * 86400),
                "term": "monthly" if evergreen else "yearly",
                "term_length": 1 if evergreen else 36,
                "is_evergreen": evergreen,
            }
        lifecycle = rng.choice([None, {"end_of_sale": None, "end_of_life": None}, seed.LIST_STRIPS[1]["lifecycle"]])
        return SimStrip(
            powerstrip_id=sid,
            network_id=network_id,
            mac="ac:86:74:" + ":".join(f"{(sid >> s) & 0xFF:02x}" for s in (16, 8, 0)),
            name=f"Strip {sid}",
            created=created,
            model=rng.choice(("P60", "MP60")),
            role=rng.choice(("repeater", "repeater", "gateway")),
            voltage=round(rng.uniform(115.0, 121.0) * (mains.volts / NORTH_AMERICA.volts), 1),
            frequency=mains.hertz,
            boot_at=now - uptime,
            last_modified=created,
            ip=f"10.{network_id % 250}.{(sid >> 8) % 250}.{sid % 250}",
            mesh_ip=f"5.{(sid >> 8) % 250}.{sid % 250}.1",
            lifecycle=copy.deepcopy(lifecycle),
            subscription=subscription,
            ports=ports,
            phase=rng.uniform(0, 2 * math.pi),
        )

    def build_fleet(self, strips: int, networks: int, now: float, seed_value: int = 1) -> None:
        """`strips` strips spread round-robin over `networks` networks (ids 100001, 100002, ...).

        Every 17th strip is down and every 23rd needs pairing, so a fleet always has both.
        """
        if strips <= 0:
            return
        networks = max(1, networks)
        ids = [100000 + i + 1 for i in range(networks)]
        for nid in ids:
            self.add_network(nid, f"Site {nid - 100000}")
        rng = random.Random(seed_value)  # noqa: S311 - simulated data
        for i in range(strips):
            strip = self.add_strip(self.generate_strip(ids[i % networks], rng, now))
            if (i + 1) % 17 == 0:
                self.set_online(strip.powerstrip_id, False, now)
            if (i + 1) % 23 == 0:
                strip.need_pairing = True

    def load_seed(self, now: float, network_id: int = seed.SEED_NETWORK_ID, *, exact: bool = True) -> None:
        """The vendor document's network: strip 1 (up, six ports) and strip 2 (down, never checked in).

        `exact` serves the documented payloads byte for byte until a change; otherwise the
        strips are simulated from the documented values.
        """
        network = self.add_network(network_id, "Seed network")
        network.settings = copy.deepcopy(seed.SETTINGS)
        network.firmware_versions = copy.deepcopy(seed.FIRMWARE_VERSIONS)
        one, two = seed.LIST_STRIPS
        got = seed.GET_STRIP_1
        ports = [
            SimPort(
                port_id=p["port_id"],
                label=p["label"],
                load_w=float(p["active_power_w"]),
                power_factor=float(p["power_factor"]) or 0.9,
                phase=p["port_id"] * 0.7,
            )
            for p in got["ports"]
        ]
        strip1 = SimStrip(
            powerstrip_id=1,
            network_id=network_id,
            mac=one["mac"],
            name=one["name"],
            created=_parse(one["created"]),
            model=one["model"],
            firmware_version=one["firmware_version"],
            voltage=float(one["voltage_v"]),
            frequency=float(one["frequency_hz"]),
            boot_at=now - float(one["uptime_seconds"]),
            last_modified=_parse(got["last_modified"]),
            ip=one["ip"],
            mesh_ip=one["mesh_ip"],
            lifecycle=copy.deepcopy(one["lifecycle"]),
            subscription=None,
            ports=ports,
            schedule=copy.deepcopy(got["schedule"]),
            connection_checks=copy.deepcopy(got["connection_checks"]),
        )
        strip2 = SimStrip(
            powerstrip_id=2,
            network_id=network_id,
            mac=two["mac"],
            name=two["name"],
            created=_parse(two["created"]),
            model=two["model"],
            firmware_version="",
            online=False,
            surge_protection_active=False,
            voltage=118.0,
            frequency=60.0,
            boot_at=None,
            last_modified=_parse(two["created"]),
            ip=None,
            lifecycle=copy.deepcopy(two["lifecycle"]),
            subscription=copy.deepcopy(two["subscription"]),
            ports=[SimPort(port_id=i, label=str(i)) for i in range(1, PORTS_PER_STRIP + 1)],
        )
        if exact:
            strip1.fixed_list = copy.deepcopy(one)
            strip1.fixed_get = seed.get_strip_1(network_id)
            strip1.fixed_usage = seed.usage_samples()
            strip2.fixed_list = copy.deepcopy(two)
        self.add_strip(strip1)
        self.add_strip(strip2)

    # -- reading -----------------------------------------------------------

    def strip(self, powerstrip_id: int) -> SimStrip:
        strip = self.strips.get(powerstrip_id)
        if strip is None:
            raise not_found("powerstrip_id")
        return strip

    def network(self, network_id: int) -> SimNetwork:
        network = self.networks.get(network_id)
        if network is None:
            raise SimApiError(404, 12000, "Network not found, create or migrate first.", "network_id")
        return network

    def list_item(self, strip: SimStrip, now: float) -> dict[str, Any]:
        if strip.fixed_list is not None:
            return copy.deepcopy(strip.fixed_list)
        up = strip.is_up()
        readings = [strip.reading(p, now) for p in strip.ports]
        return {
            "powerstrip_id": strip.powerstrip_id,
            "mac": strip.mac,
            "name": strip.name,
            "model": strip.model,
            "ip": strip.ip if up else None,
            "created": iso_seconds(strip.created),
            "firmware_version": strip.firmware_version,
            "enabled_ports": sum(1 for p in strip.ports if p.enable),
            "port_count": len(strip.ports),
            "last_checkin": iso(strip.last_checkin(now, self.options.checkin_interval_seconds)),
            "need_pairing": strip.need_pairing,
            "cloud_status": "up" if up else "down",
            "role": strip.role,
            "mesh_ip": strip.mesh_ip if up else "",
            "lifecycle": copy.deepcopy(strip.lifecycle),
            "subscription": copy.deepcopy(strip.subscription),
            "surge_protection_active": strip.surge_protection_active if up else False,
            "voltage_v": strip.voltage_at(now),
            "frequency_hz": strip.frequency if up else 0,
            "uptime_seconds": int(now - strip.boot_at) if up and strip.boot_at is not None else 0,
            "active_ports": sum(1 for r in readings if r["active_power_w"] > 0),
        }

    def get_payload(self, strip: SimStrip, now: float) -> dict[str, Any]:
        if strip.fixed_get is not None:
            return copy.deepcopy(strip.fixed_get)
        item = self.list_item(strip, now)
        del item["enabled_ports"], item["port_count"]
        item.update(
            {
                "network_id": strip.network_id,
                "description": strip.description,
                "enable_pairing": strip.enable_pairing,
                "enable_power_switch": strip.enable_power_switch,
                "enable_connection_check": strip.enable_connection_check,
                "enable_connection_check_during_maintenance": strip.enable_connection_check_during_maintenance,
                "connection_check_max_retries": strip.connection_check_max_retries,
                "connection_check_time_between_retries": strip.connection_check_time_between_retries,
                "enable_mesh": strip.enable_mesh,
                "last_modified": iso_seconds(strip.last_modified or strip.created),
                "ports": [
                    {
                        "port_id": p.port_id,
                        "label": p.label,
                        "enable": p.enable,
                        "connection_check_name": p.connection_check_name,
                        **strip.reading(p, now),
                    }
                    for p in strip.ports
                ],
                "schedule": copy.deepcopy(strip.schedule),
                "connection_checks": copy.deepcopy(strip.connection_checks),
            }
        )
        return item

    def usage_payload(self, strip: SimStrip, period: str, now: float) -> dict[str, Any]:
        layout = self.options.usage_layout.get(period)
        if layout is None:
            raise missing_parameter("period")
        if strip.fixed_usage is not None:
            samples = copy.deepcopy(strip.fixed_usage)
        else:
            count, spacing = layout
            end = math.floor(now / spacing) * spacing
            samples = []
            for i in range(count):
                t = end - (count - 1 - i) * spacing
                if t < strip.created:
                    continue
                ports = {}
                for port in strip.ports:
                    r = strip.reading(port, t, live=False)
                    ports[str(port.port_id)] = {
                        "active_power_w": r["active_power_w"],
                        "voltage_v": strip.voltage_at(t),
                        "current_a": r["current_a"],
                    }
                samples.append({"time": iso_seconds(t), "ports": ports, "memory_available": 0, "role": strip.role})
        if self.options.usage_order == "newest_first":
            samples.reverse()
        return {"usage": samples}

    # -- changing ----------------------------------------------------------

    def create(self, network_id: int, body: Any, now: float) -> int:
        network = self.network(network_id)
        if not isinstance(body, dict):
            raise missing_parameter("body")
        mac = str(body.get("mac") or "").strip().lower()
        name = body.get("name")
        if not MAC_RE.match(mac):
            raise SimApiError(
                403,
                1008,
                f"Mac address ({mac}) is in the wrong format.  Must match regx {MAC_RE.pattern}.",
                "mac",
                {"mac": mac, "regx": MAC_RE.pattern},
            )
        if not isinstance(name, str) or not name.strip():
            raise SimApiError(403, 1005, "Name cannot be empty.", "name")
        existing = next((s for s in self.strips.values() if s.mac == mac), None)
        if existing is not None:
            if existing.network_id == network_id:
                raise SimApiError(403, 17000, f"Mac ({mac}) already exists in your network.", "mac", {"mac": mac})
            if not body.get("confirm_transfer"):
                raise SimApiError(
                    403,
                    17001,
                    f"Mac ({mac}) already exists in another of your networks, but you have not set "
                    "'confirm_transfer' true.",
                    "mac",
                    {"mac": mac},
                )
            self.delete(existing.powerstrip_id)
        up = self.options.new_strip_status == "up"
        rng = random.Random(int(mac.replace(":", ""), 16))  # noqa: S311 - simulated data
        strip = SimStrip(
            powerstrip_id=self.new_strip_id(),
            network_id=network.network_id,
            mac=mac,
            name=name,
            created=now,
            model=str(body.get("model") or "P60"),
            description=str(body.get("description") or ""),
            boot_at=now if up else None,
            online=up,
            last_modified=now,
            ports=[
                SimPort(
                    port_id=i,
                    label=str(i),
                    load_w=round(rng.uniform(5.0, 40.0), 1) if i <= 2 else 0.0,
                    power_factor=0.8,
                    phase=i * 0.9,
                )
                for i in range(1, PORTS_PER_STRIP + 1)
            ],
        )
        self.add_strip(strip)
        return strip.powerstrip_id

    def update(self, powerstrip_id: int, body: Any, now: float) -> None:
        strip = self.strip(powerstrip_id)
        if not isinstance(body, dict):
            raise missing_parameter("body")
        strip.unfreeze()
        if not self.options.partial_update:
            for port in strip.ports:
                port.label, port.enable, port.connection_check_name = str(port.port_id), True, None
        simple = (
            "name",
            "description",
            "enable_pairing",
            "enable_power_switch",
            "enable_connection_check",
            "enable_connection_check_during_maintenance",
            "connection_check_max_retries",
            "connection_check_time_between_retries",
            "enable_mesh",
        )
        for key in simple:
            if key in body:
                setattr(strip, key, body[key])
        ports = {p.port_id: p for p in strip.ports}
        for item in body.get("ports") or ():
            if not isinstance(item, dict) or item.get("port_id") not in ports:
                raise SimApiError(403, 12012, "Id not found, use 0 to create a new entry.", "ports")
            port = ports[item["port_id"]]
            if "label" in item:
                port.label = str(item["label"])
            if "enable" in item:
                port.enable = bool(item["enable"])
            if "connection_check_name" in item:
                port.connection_check_name = item["connection_check_name"]
        if "schedule" in body:
            strip.schedule = [
                {"powerstrip_port_schedule_id": 500000 + i + len(strip.schedule), **entry}
                for i, entry in enumerate(body["schedule"] or [])
                if isinstance(entry, dict)
            ]
        if "connection_checks" in body:
            strip.connection_checks = [c for c in body["connection_checks"] or [] if isinstance(c, dict)]
        strip.last_modified = now

    def delete(self, powerstrip_id: int) -> None:
        strip = self.strip(powerstrip_id)
        del self.strips[powerstrip_id]
        network = self.networks.get(strip.network_id)
        if network is not None:
            network.strip_ids.remove(powerstrip_id)

    def checkin(self, powerstrip_id: int, now: float) -> None:
        strip = self.strip(powerstrip_id)
        if not strip.is_up():
            raise SimApiError(403, 1000, "Exception: power strip is offline", "checkin", {"reason": "offline"})
        strip.unfreeze()
        strip.checkin_at = now

    def reboot(self, powerstrip_id: int, now: float) -> None:
        strip = self.strip(powerstrip_id)
        if not strip.is_up():
            raise SimApiError(403, 1000, "Exception: power strip is offline", "reboot", {"reason": "offline"})
        strip.unfreeze()
        strip.boot_at = now
        strip.checkin_at = now
        for port in strip.ports:
            port.down_until = now + self.options.reboot_seconds

    def enable_pairing(self, powerstrip_id: int) -> None:
        strip = self.strip(powerstrip_id)
        strip.unfreeze()
        strip.enable_pairing = True
        if self.options.pairing_clears_need_pairing:
            strip.need_pairing = False

    def reset_port(self, powerstrip_id: int, port_id: int, now: float) -> None:
        strip = self.strip(powerstrip_id)
        port = next((p for p in strip.ports if p.port_id == port_id), None)
        if port is None:
            raise not_found("port_id")
        strip.unfreeze()
        port.down_until = now + self.options.port_reset_seconds

    def update_settings(self, network_id: int, body: Any) -> None:
        network = self.network(network_id)
        if not isinstance(body, dict):
            raise missing_parameter("body")
        for key in ("enable_power_switch", "enable_mesh", "enable_upgrade"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise SimApiError(403, 12004, "Int value out of range.", key)
                network.settings[key] = body[key]
        if "firmware_tag" in body:
            tag = body["firmware_tag"]
            if not isinstance(tag, str) or not FIRMWARE_TAG_RE.match(tag):
                raise SimApiError(
                    403,
                    12002,
                    f"Invalid characters.  Used regx: {FIRMWARE_TAG_RE.pattern}",
                    "firmware_tag",
                    {"regx": FIRMWARE_TAG_RE.pattern},
                )
            network.settings["firmware_tag"] = tag

    def set_online(self, powerstrip_id: int, online: bool, now: float) -> None:
        """Control-side switch: a strip goes down (zeros, frozen check-in) or comes back up (fresh boot)."""
        strip = self.strips.get(powerstrip_id)
        if strip is None:
            raise KeyError(powerstrip_id)
        if strip.online == online and (not online or strip.boot_at is not None):
            return
        strip.unfreeze()
        if online:
            strip.online = True
            strip.boot_at = now
        else:
            strip.checkin_at = strip.last_checkin(now, self.options.checkin_interval_seconds)
            strip.online = False


def _parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
