"""Version, revision, branch and build date, for `--version` and `powerstrip_exporter_build_info`.

A build writes them to `build_info.json` beside this module, the way Prometheus' binaries get
them through linker flags: `pip install .` from a git checkout does it through the build hook
(`build_hooks.py`, which runs `python -m exporter.buildinfo --output ...`), and the Dockerfile passes
them as arguments. Without that file, as in a source checkout or an editable install, revision and
branch are asked of git at run time, and whatever cannot be known is "unknown".
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import getpass
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
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


CHECKOUT = Path(__file__).resolve().parent.parent
"""The source tree this module is in; a git checkout only when run from one (not once installed)."""


def _git(*args: str) -> str:
    root = CHECKOUT
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


def _now() -> str:
    """The build date as Prometheus writes it, UTC; `SOURCE_DATE_EPOCH` fixes it for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch.isdigit() else dt.datetime.now(dt.UTC)
    return when.strftime("%Y%m%d-%H:%M:%S")


def _user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = UNKNOWN
    return f"{user}@{socket.gethostname()}"


def write_build_file(
    revision: str,
    branch: str,
    build_date: str | None = None,
    build_user: str | None = None,
    path: Path = BUILD_FILE,
) -> Path:
    """Record the build; `build_date` defaults to now (UTC) and `build_user` to user@host, as Prometheus'."""
    data = {
        "revision": revision or UNKNOWN,
        "branch": branch or UNKNOWN,
        "build_date": build_date or _now(),
        "build_user": build_user or _user(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.buildinfo", description="record build information")
    parser.add_argument("--revision", default=None, help="commit the build is made from (default: git's HEAD)")
    parser.add_argument("--branch", default=None, help="branch the build is made from (default: git's)")
    parser.add_argument("--build-date", default=None, help="default: SOURCE_DATE_EPOCH or now (UTC), YYYYMMDD-HH:MM:SS")
    parser.add_argument("--build-user", default=None, help="default: user@host")
    parser.add_argument("--output", type=Path, default=BUILD_FILE, help="default: build_info.json beside this module")
    args = parser.parse_args(argv)
    revision = args.revision if args.revision is not None else _git("rev-parse", "HEAD")
    branch = args.branch if args.branch is not None else _git("rev-parse", "--abbrev-ref", "HEAD")
    path = write_build_file(revision, branch, args.build_date, args.build_user, args.output)
    print(path.read_text(encoding="utf-8"), end="", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
