"""setuptools hook: a build from a git checkout records its revision, branch and date.

`pip install .` (which builds in the source tree) runs `build_py`; after the usual copy, this asks
git through `python -m exporter.buildinfo` and writes `exporter/build_info.json` into the build, not
the checkout, so `--version` and `powerstrip_exporter_build_info` name the commit the install was
made from. A `build_info.json` already in the source (the Dockerfile records one from its build
arguments) is kept as it is. Editable installs read git at run time instead (`exporter.buildinfo`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithBuildInfo(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode or (ROOT / "exporter" / "build_info.json").exists():
            return
        target = Path(self.build_lib) / "exporter" / "build_info.json"
        if not (ROOT / ".git").exists():
            target.unlink(missing_ok=True)  # left by an earlier build of a checkout
            return
        subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "exporter.buildinfo", "--output", str(target)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
