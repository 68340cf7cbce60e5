"""Parse `--web.listen-address` values the way Prometheus exporters write them."""

from __future__ import annotations


def parse_listen_address(value: str) -> tuple[str | None, int]:
    """`:9795` (all interfaces), `127.0.0.1:9795` or `[::1]:9795` to (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid listen address {value!r}: expected [host]:port, e.g. :9795")
    host = host.strip("[]")
    return (host or None), int(port_text)


def listen_url(scheme: str, value: str, path: str = "/") -> str:
    """The URL a listen address is reached at, for logs and the demo banner; IPv6 hosts are bracketed."""
    host, port = parse_listen_address(value)
    shown = host or "localhost"
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}{path}"
