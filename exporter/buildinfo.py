"""Version, revision, branch and build date, for `--version` and `powerstrip_exporter_build_info`.

An image or package build writes them to `build_info.json` beside this module
(`python -m exporter.buildinfo --revision ... --branch ...`, as the Dockerfile does), the way
Prometheus' binaries get them through linker flags. Without that file, as in a source checkout,
revision and branch are asked of git, and whatever cannot be known is "unknown".
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import getpass
import json
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from exporter import __version__

BUILD_FILE = Path(__file__).with_name("build_info.json")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str
    branch: str
    build_user: str
    build_date: str
    python_version: str

    def version_text(self, program: str = "powerstrip-exporter") -> str:
        """Shaped like `prometheus --version`, with the Python version where Go's would be."""
        return (
            f"{program}, version {self.version} (branch: {self.branch}, revision: {self.revision})\n"
            f"  build user:       {self.build_user}\n"
            f"  build date:       {self.build_date}\n"
            f"  python version:   {self.python_version}\n"
            f"  platform:         {sys.platform}/{platform.machine()}"
        )


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return UNKNOWN
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH, as a developer runs it
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else UNKNOWN


def _recorded() -> dict[str, str]:
    try:
        data = json.loads(BUILD_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return (
        {key: value for key, value in data.items() if isinstance(value, str) and value}
        if isinstance(data, dict)
        else {}
    )


@functools.cache
def build_info() -> BuildInfo:
    recorded = _recorded()
    if recorded:
        revision, branch = recorded.get("revision", UNKNOWN), recorded.get("branch", UNKNOWN)
    else:
        revision, branch = _git("rev-parse", "HEAD"), _git("rev-parse", "--abbrev-ref", "HEAD")
    return BuildInfo(
        version=__version__,
        revision=revision,
        branch=branch,
        build_user=recorded.get("build_user", UNKNOWN),
        build_date=recorded.get("build_date", UNKNOWN),
        python_version=platform.python_version(),
    )


class VersionAction(argparse.Action):
    """`--version` shaped like Prometheus' (several lines, which argparse's own action would re-wrap)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(build_info().version_text())
        parser.exit()


def write_build_file(revision: str, branch: str, build_date: str | None = None, build_user: str | None = None) -> Path:
    """Record the build; `build_date` defaults to now (UTC) and `build_user` to user@host, as Prometheus'."""
    data = {
        "revision": revision or UNKNOWN,
        "branch": branch or UNKNOWN,
        "build_date": build_date or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H:%M:%S"),
        "build_user": build_user or f"{getpass.getuser()}@{socket.gethostname()}",
    }
    BUILD_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return BUILD_FILE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.buildinfo", description="record build information")
    parser.add_argument("--revision", default=UNKNOWN, help="commit the build is made from")
    parser.add_argument("--branch", default=UNKNOWN, help="branch the build is made from")
    parser.add_argument("--build-date", default=None, help="default: now, UTC, as YYYYMMDD-HH:MM:SS")
    parser.add_argument("--build-user", default=None, help="default: user@host")
    args = parser.parse_args(argv)
    path = write_build_file(args.revision, args.branch, args.build_date, args.build_user)
    print(json.dumps(asdict(build_info.__wrapped__()), sort_keys=True), file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
