"""`powerstrip-exporter healthcheck`: probe the exporter's own `/-/healthy` the way it is served.

For a container HEALTHCHECK, which cannot see the flags the exporter was started with:
`--args-from-pid 1` reads them from the running exporter's command line, so the probe follows
the listen address and the web config (TLS) whatever the container was started with.

The probe goes to this host's own listener (`:9795` is probed on 127.0.0.1). Over TLS it does not
verify the certificate: it asks whether the process answers, not who it is, and a certificate
rotated on disk but not yet reloaded must not make a live exporter look dead. `/-/healthy` is
exempt from basic auth, so no password is needed; when the web config requires client
certificates, the exporter's own certificate and key are presented.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exporter.config.errors import ConfigError
from exporter.web.config_file import load_web_config
from exporter.web.listen import listen_url, parse_listen_address
from exporter.web.tls import load_certificate

HEALTH_PATH = "/-/healthy"
_WILDCARD = {None: "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapped away from, not bound
_NEEDS_CLIENT_CERT = {"RequireAnyClientCert", "RequireClientCert", "RequireAndVerifyClientCert"}


class HealthcheckError(Exception):
    """Why the probe failed, in one line."""


@dataclass(frozen=True)
class ExporterFlags:
    listen: list[str]
    web_config_file: str | None


def _program_args(argv: list[str]) -> list[str] | None:
    """The arguments after the exporter's program name in a command line, or None if it is not one."""
    for i, arg in enumerate(argv):
        if Path(arg).name == "powerstrip-exporter":
            return argv[i + 1 :]
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "exporter":
            return argv[i + 2 :]
    return None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return sorted(found)


def flags_from_pid(pid: int, parser: argparse.ArgumentParser) -> ExporterFlags:
    """The exporter's flags from /proc/<pid>/cmdline; an init process (`docker run --init`) is looked through."""
    for candidate in (pid, *_children(pid)):
        try:
            raw = Path(f"/proc/{candidate}/cmdline").read_bytes()
        except OSError:
            continue
        args = _program_args([part.decode(errors="replace") for part in raw.split(b"\0") if part])
        if args is None or candidate == os.getpid():
            continue
        known, _ = parser.parse_known_args(args)
        if known.command not in (None, "demo"):
            continue  # another healthcheck (or a simulator), not the exporter
        web_config = known.web_config_file
        if web_config is not None and not Path(web_config).is_absolute():
            with contextlib.suppress(OSError):  # relative to the exporter's working directory, not the probe's
                web_config = str(Path(os.readlink(f"/proc/{candidate}/cwd")) / web_config)
        return ExporterFlags(known.listen or [known.default_listen], web_config)
    raise HealthcheckError(f"process {pid} is not powerstrip-exporter, nor is any of its children")


def probe(flags: ExporterFlags, timeout: float) -> str:
    """GET /-/healthy on the first listen address; the URL on success, HealthcheckError otherwise."""
    host, port = parse_listen_address(flags.listen[0])
    target = _WILDCARD.get(host, host)
    assert target is not None
    context: ssl.SSLContext | None = None
    if flags.web_config_file is not None:
        try:
            tls = load_web_config(Path(flags.web_config_file)).tls_server_config
        except ConfigError as err:
            raise HealthcheckError("; ".join(err.messages)) from None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if tls.client_auth_type in _NEEDS_CLIENT_CERT:
                try:
                    load_certificate(context, tls, flags.web_config_file)
                except ConfigError as err:
                    raise HealthcheckError("; ".join(err.messages)) from None
    address = f"[{target}]:{port}" if ":" in target else f"{target}:{port}"
    url = listen_url("https" if context else "http", address, HEALTH_PATH)
    conn: http.client.HTTPConnection
    if context is not None:
        conn = http.client.HTTPSConnection(target, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(target, port, timeout=timeout)
    try:
        conn.request("GET", HEALTH_PATH)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise HealthcheckError(f"{url}: {reason}") from None
    finally:
        conn.close()
    if status != 200:
        raise HealthcheckError(f"{url}: HTTP {status}")
    return url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: flags given before the subcommand (`--web.listen-address=:9100 healthcheck`) are kept.
    parser.add_argument("--web.listen-address", dest="listen", action="append", default=argparse.SUPPRESS)
    parser.add_argument("--web.config.file", dest="web_config_file", default=argparse.SUPPRESS)
    parser.add_argument(
        "--args-from-pid",
        dest="args_from_pid",
        type=int,
        default=None,
        metavar="PID",
        help="read the flags from that running exporter's command line (1 in a container)",
    )
    parser.add_argument("--timeout", dest="timeout", type=float, default=3.0, help="seconds (default 3)")


def run(args: argparse.Namespace, exporter_parser: Callable[[], argparse.ArgumentParser]) -> int:
    """Exit 0 with `healthy: URL`, or 1 with one `unhealthy: why` line."""
    try:
        if args.args_from_pid is not None:
            flags = flags_from_pid(args.args_from_pid, exporter_parser())
        else:
            flags = ExporterFlags(args.listen, args.web_config_file)
        url = probe(flags, args.timeout)
    except (HealthcheckError, ValueError) as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return 1
    print(f"healthy: {url}")
    return 0
