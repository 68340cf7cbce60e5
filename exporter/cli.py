"""Command line: run the exporter, check a config, run the demo or a simulator."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from exporter import __version__
from exporter.config.errors import ConfigError
from exporter.config.loader import load_config
from exporter.config.types import parse_duration
from exporter.engine.engine import Shard
from exporter.logs import LEVELS, configure_logging
from exporter.sources.registry import load_sources
from exporter.web.limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    HttpLimits,
)
from exporter.web.listen import parse_listen_address

DEFAULT_LISTEN = ":9795"


def _common_flags(parser: argparse.ArgumentParser, default_listen: str) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=default_listen,
        help=f"address to serve metrics and the API on (default {default_listen})",
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
    parser.add_argument("--version", action="version", version=f"powerstrip-exporter {__version__}")
    parser.add_argument(
        "--config.file", dest="config_file", default="config.yml", help="YAML config (default config.yml)"
    )
    parser.add_argument("--config.check", dest="config_check", action="store_true", help="validate the config and exit")
    _common_flags(parser, DEFAULT_LISTEN)
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="exporter-toolkit style web config: TLS and bcrypt basic auth (re-read on reload)",
    )
    parser.add_argument(
        "--web.actions-listen-address",
        dest="actions_listen",
        default=None,
        help="serve the action API on this address only, instead of on --web.listen-address",
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
    parser.add_argument("--shard.count", dest="shard_count", type=int, default=1, help="replicas sharing the targets")
    parser.add_argument("--shard.index", dest="shard_index", type=int, default=0, help="this replica's index, 0-based")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the built-in simulators and the exporter polling them")
    _common_flags(demo, "127.0.0.1:9795")
    simulate = commands.add_parser("simulate", help="run one vendor API simulator")
    sim_sources = simulate.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, source in load_sources().items():
        sim = source.simulator()
        if sim is not None:
            sub = sim_sources.add_parser(name, help=f"simulate the {name} API")
            sim.add_arguments(sub)
            sub.set_defaults(simulator=sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level if hasattr(args, "log_level") else "info", getattr(args, "log_format", "logfmt"))
    try:
        if args.command == "demo":
            from exporter.demo import run_demo

            return asyncio.run(run_demo(args.listen))
        if args.command == "simulate":
            asyncio.run(args.simulator.serve(args))
            return 0
        return _run(args)
    except KeyboardInterrupt:
        return 0


def _run(args: argparse.Namespace) -> int:
    sources = load_sources()
    if args.config_check:
        try:
            config = load_config(args.config_file, sources)
        except ConfigError as err:
            print(f"{args.config_file}: invalid configuration:", file=sys.stderr)
            for line in err.messages:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"{args.config_file}: OK ({len(config.entries)} target entries)")
        return 0
    if not 0 <= args.shard_index < args.shard_count:
        print(f"--shard.index must be in [0, {args.shard_count}), got {args.shard_index}", file=sys.stderr)
        return 2
    try:
        parse_listen_address(args.listen)
        if args.actions_listen:
            parse_listen_address(args.actions_listen)
    except ValueError as err:
        print(str(err), file=sys.stderr)
        return 2
    from exporter.daemon import Daemon
    from exporter.runtime import run_daemon

    daemon = Daemon(args.config_file, sources, Shard(args.shard_index, args.shard_count), args.web_config_file)
    try:
        limits = HttpLimits(args.read_header_timeout, args.read_body_timeout, args.max_connections)
        asyncio.run(run_daemon(daemon, args.listen, actions_listen_address=args.actions_listen, limits=limits))
    except ConfigError as err:
        print("invalid configuration:", file=sys.stderr)
        for line in err.messages:
            print(f"  {line}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"cannot listen on {args.listen}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0
