"""The runbook the exporter serves at /runbook ships in the package: a wheel built from the tree the
Docker build copies holds docs/runbook.md, and serves it without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.ops import opslib

PACKAGED = Path("exporter/web/runbook.md")


def docker_build_tree(dest: Path) -> Path:
    """What the Dockerfile's COPY lines put in its build directory, links kept as links."""
    for line in (opslib.REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if not line.startswith("COPY "):
            continue
        *sources, target = line.split()[1:]
        for source in sources:
            src = opslib.REPO / source
            to = dest / target / src.name if target.endswith("/") else dest / target
            if src.is_dir():
                shutil.copytree(src, to, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, to)
    return dest


def test_wheel_from_the_docker_build_tree_serves_the_runbook(tmp_path: Path) -> None:
    tree = docker_build_tree(tmp_path / "src")
    assert (tree / PACKAGED).is_symlink()  # one runbook, docs/runbook.md, not a copy to keep in step
    built = opslib.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(tree)],
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("powerstrip_exporter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(PACKAGED.as_posix()) == (opslib.DOCS_DIR / "runbook.md").read_bytes()
        unpacked = tmp_path / "unpacked"
        archive.extractall(unpacked)
    # Imported from the unpacked wheel (not this tree), the page renders every alert's section.
    probe = (
        "import exporter, sys; from exporter.web.runbook_page import runbook_page; "
        "assert exporter.__file__.startswith(sys.argv[1]), exporter.__file__; print(runbook_page())"
    )
    page = subprocess.run(
        [sys.executable, "-c", probe, str(unpacked)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(unpacked)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert page.returncode == 0, page.stderr
    for rule in opslib.alert_rules():
        assert f'<h2 id="{rule["alert"].lower()}">' in page.stdout, rule["alert"]
