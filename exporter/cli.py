"""Command line: run the exporter, check a config, try remediation rules, run the demo or a simulator.

The composition root, above everything else (docs/architecture.md): the one module that may reach
both the exporter and the simulator package, and it imports the latter only inside the `demo` and
`simulate` commands, so a plain run loads no simulator."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from exporter import healthcheck
from exporter.buildinfo import VersionAction
from exporter.config.errors import ConfigError
from exporter.config.loader import load_config
from exporter.config.types import parse_duration
from exporter.engine.engine import Shard
from exporter.logs import LEVELS, configure_logging
from exporter.sources.registry import load_sources
from exporter.storage import DirectoryInUse, StateDirectory
from exporter.web.app import DEFAULT_TELEMETRY_PATH, check_telemetry_path
from exporter.web.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_CLIENT,
    HttpLimits,
)
from exporter.web.listen import parse_listen_address

DEFAULT_LISTEN = ":9795"


def _common_flags(parser: argparse.ArgumentParser, default_listen: str) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        action="append",
        default=None,
        metavar="ADDRESS",
        help=f"address to serve metrics and the API on; repeat it to listen on several (default {default_listen})",
    )
    parser.set_defaults(default_listen=default_listen)
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default=DEFAULT_TELEMETRY_PATH,
        metavar="PATH",
        help=f"path under which to expose metrics (default {DEFAULT_TELEMETRY_PATH})",
    )
    parser.add_argument("--log.level", dest="log_level", choices=list(LEVELS), default="info")
    parser.add_argument("--log.format", dest="log_format", choices=["logfmt", "json"], default="logfmt")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="powerstrip-exporter",
        description="Prometheus exporter for CloudTrax power strips and Digital Loggers power switches.",
    )
    parser.add_argument("--version", action=VersionAction, help="show version and build information, then exit")
    parser.add_argument(
        "--config.file", dest="config_file", default="config.yml", help="YAML config (default config.yml)"
    )
    parser.add_argument("--config.check", dest="config_check", action="store_true", help="validate the config and exit")
    _common_flags(parser, DEFAULT_LISTEN)
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="exporter-toolkit style web config: TLS, response headers, bcrypt basic auth (re-read on reload)",
    )
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="serve POST /-/reload (behind basic auth, or a bearer token allowed exporter.reload); "
        "without it only SIGHUP reloads",
    )
    parser.add_argument(
        "--config.allow-empty-reload",
        dest="allow_empty_reload",
        action="store_true",
        help="accept a reload whose config has no targets (refused by default: an empty or truncated file)",
    )
    parser.add_argument(
        "--web.actions-listen-address",
        dest="actions_listen",
        default=None,
        help="serve the action API on this address only, instead of on --web.listen-address",
    )
    parser.add_argument(
        "--storage.path",
        dest="storage_path",
        default=None,
        help="directory for state kept across restarts (CloudTrax energy counters, remediation memory); default: none",
    )
    parser.add_argument(
        "--web.read-header-timeout",
        dest="read_header_timeout",
        type=_duration,
        default=DEFAULT_HEADER_TIMEOUT,
        help="close a connection whose request line and headers take longer than this (default 10s)",
    )
    parser.add_argument(
        "--web.read-body-timeout",
        dest="read_body_timeout",
        type=_duration,
        default=DEFAULT_BODY_TIMEOUT,
        help="give up on a request body (the action API's) that takes longer than this; answered 408 (default 10s)",
    )
    parser.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=_positive_int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="open connections per listener; one more is answered 503 and closed (default 256)",
    )
    parser.add_argument(
        "--web.max-connections-per-client",
        dest="max_per_client",
        type=_positive_int,
        default=DEFAULT_MAX_PER_CLIENT,
        help="open connections per listener from one IPv4 address or IPv6 /64; one more is answered 429 "
        f"and closed (default {DEFAULT_MAX_PER_CLIENT}; behind a reverse proxy every client is the proxy)",
    )
    parser.add_argument("--shard.count", dest="shard_count", type=int, default=1, help="replicas sharing the targets")
    parser.add_argument("--shard.index", dest="shard_index", type=int, default=0, help="this replica's index, 0-based")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the built-in simulators and the exporter polling them")
    _common_flags(demo, "127.0.0.1:9795")
    healthcheck.add_arguments(
        commands.add_parser(
            "healthcheck",
            help="probe a running exporter's /-/healthy, following its listen address and web config (TLS)",
        )
    )
    remediation = commands.add_parser("remediation", help="remediation tools (remediation try --help)")
    tools = remediation.add_subparsers(dest="remediation_command", metavar="TOOL", required=True)
    trial = tools.add_parser(
        "try",
        help="print what each rule would decide for each alert of an Alertmanager payload; calls nothing",
    )
    trial.add_argument("--config.file", dest="config_file", default=argparse.SUPPRESS, help="YAML config")
    trial.add_argument("--output", choices=["text", "json"], default="text")
    trial.add_argument("payload", nargs="?", default="-", help="webhook payload (JSON) file, or - for stdin")
    # The simulators parse their own arguments (powerstrip_sim.cli): building this parser, which every
    # run of the exporter does, must not import them.
    simulate = commands.add_parser(
        "simulate", help="run one vendor API simulator (simulate --help lists them)", add_help=False
    )
    simulate.add_argument("simulator_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "simulate":
        # `simulate --help` and options before the simulator's name arrive here unparsed.
        args.simulator_args = unknown + args.simulator_args
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if hasattr(args, "listen"):
        args.listen = args.listen or [args.default_listen]
    configure_logging(args.log_level if hasattr(args, "log_level") else "info", getattr(args, "log_format", "logfmt"))
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "healthcheck":
            return healthcheck.run(args, build_parser)
        if args.command == "remediation":
            return _try_remediation(args)
        if args.command == "simulate":
            from powerstrip_sim.cli import simulate

            return simulate(args.simulator_args)
        return _run(args)
    except KeyboardInterrupt:
        return 0


def _print_config_error(err: ConfigError, header: str) -> None:
    """A header and indented `path: problem` lines; an error that names its own file:line:col stands alone."""
    if err.located:
        print("\n".join(err.messages), file=sys.stderr)
        return
    print(header, file=sys.stderr)
    for line in err.messages:
        print(f"  {line}", file=sys.stderr)


def _check_web_config(path: str) -> int:
    """--config.check with --web.config.file: the web config too, TLS files loaded as at start-up."""
    from exporter.web.security import WebSecurity

    web = WebSecurity(Path(path))
    try:
        web.load(log_notes=False)
    except ConfigError as err:
        print("\n".join(err.messages), file=sys.stderr)  # each already names the file
        return 1
    finally:
        web.close()
    for note in web.notes:
        print(f"{path}: warning: {note}", file=sys.stderr)
    print(f"{path}: OK")
    return 0


def _check_web_flags(args: argparse.Namespace) -> str | None:
    """The listen addresses and telemetry path, checked before anything starts; the problem, if any."""
    try:
        for address in args.listen:
            parse_listen_address(address)
        if getattr(args, "actions_listen", None):
            parse_listen_address(args.actions_listen)
        check_telemetry_path(args.telemetry_path)
    except ValueError as err:
        return str(err)
    return None


def _demo(args: argparse.Namespace) -> int:
    from exporter.runtime import ListenError
    from powerstrip_sim.demo import run_demo

    problem = _check_web_flags(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_demo(args.listen, args.telemetry_path))
    except ListenError as err:
        print(f"powerstrip-exporter demo: {err}", file=sys.stderr)
        return 1


def _try_remediation(args: argparse.Namespace) -> int:
    """`remediation try`: the rules' offline verdicts; reads the config and the payload, calls nothing."""
    import json
    import time

    from exporter.remediation.rules import compile_rules
    from exporter.remediation.trial import as_json, as_text, try_notification
    from exporter.remediation.webhook import WebhookError, parse_notification

    sources = load_sources()
    try:
        config = load_config(args.config_file, sources)
    except ConfigError as err:
        _print_config_error(err, f"{args.config_file}: invalid configuration:")
        return 1
    try:
        body = sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
    except OSError as err:
        print(f"cannot read {args.payload}: {err.strerror or err}", file=sys.stderr)
        return 1
    try:
        notification = parse_notification(body, "application/json")
    except WebhookError as err:
        print(f"{args.payload}: {err.detail}", file=sys.stderr)
        return 1
    specs = [spec for source in sources.values() for spec in source.actions()]
    rules = compile_rules(config.remediation, specs)
    if not rules:
        print(f"{args.config_file}: no remediation.rules are configured", file=sys.stderr)
        return 1
    trials = try_notification(notification, rules, config.remediation.token, config.actions, time.time())
    if args.output == "json":
        print(json.dumps(as_json(trials), indent=2))
    else:
        sys.stdout.write(as_text(trials, notification.truncatedAlerts))
    return 0


def _run(args: argparse.Namespace) -> int:
    sources = load_sources()
    if args.config_check:
        try:
            config = load_config(args.config_file, sources)
        except ConfigError as err:
            _print_config_error(err, f"{args.config_file}: invalid configuration:")
            return 1
        for warning in config.warnings:
            print(f"{args.config_file}: warning: {warning}", file=sys.stderr)
        print(f"{args.config_file}: OK ({len(config.entries)} target entries)")
        return _check_web_config(args.web_config_file) if args.web_config_file else 0
    if not 0 <= args.shard_index < args.shard_count:
        print(f"--shard.index must be in [0, {args.shard_count}), got {args.shard_index}", file=sys.stderr)
        return 2
    problem = _check_web_flags(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    storage = None
    if args.storage_path:
        try:
            state_dir = StateDirectory.open(args.storage_path)  # locked until this process ends
        except DirectoryInUse as err:
            print(f"--storage.path {args.storage_path}: {err.strerror}", file=sys.stderr)
            return 1
        except OSError as err:
            print(f"--storage.path {args.storage_path}: {err.strerror or err}", file=sys.stderr)
            return 2
        storage = state_dir.path
    from exporter.daemon import Daemon
    from exporter.runtime import ListenError, run_daemon

    daemon = Daemon(
        args.config_file,
        sources,
        Shard(args.shard_index, args.shard_count),
        args.web_config_file,
        storage_path=storage,
        allow_empty_reload=args.allow_empty_reload,
    )
    try:
        limits = HttpLimits(args.read_header_timeout, args.read_body_timeout, args.max_connections, args.max_per_client)
        asyncio.run(
            run_daemon(
                daemon,
                args.listen,
                telemetry_path=args.telemetry_path,
                actions_listen_address=args.actions_listen,
                limits=limits,
                enable_lifecycle=args.enable_lifecycle,
            )
        )
    except ConfigError as err:
        _print_config_error(err, "invalid configuration:")
        return 1
    except ListenError as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0
