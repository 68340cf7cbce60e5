"""Type-check the dashboards against Grafana's published dashboard types (npm @grafana/schema).

Each dashboard's JSON is inlined into a TypeScript file as
`export const d = (<json>) satisfies Literalize<Dashboard>;` and compiled with
`tsc --strict --noEmit`. Inlining (instead of importing the .json) keeps string
literals narrow; `Literalize` turns the schema's string enums (MappingType,
ThresholdsMode, ...) into the union of their values, which is exactly what a
JSON file can hold. Unknown keys in panels and field configs, wrong types and
malformed grid positions are errors.

The packages come from the npm registry into a temporary folder. Without npm,
or when the install fails (offline), the test is skipped with the reason.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ops import opslib
from tests.support.lanes import starts_processes

PACKAGES = ["@grafana/schema@11.6.9", "typescript@5.8.3"]  # Grafana 11.6, the SDK's target

TS_HEADER = """import type { Dashboard } from '@grafana/schema';
type Literalize<T> = T extends string
  ? (string extends T ? T : `${T}`)
  : T extends readonly (infer U)[]
    ? Literalize<U>[]
    : T extends object
      ? { [K in keyof T]: Literalize<T[K]> }
      : T;
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "target": "es2022",
        "skipLibCheck": True,
    },
    "include": ["*.ts"],
}


@pytest.fixture(scope="session")
@starts_processes
def tsc(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: Grafana dashboard type check skipped (install nodejs and npm to run it)")
    workdir = tmp_path_factory.mktemp("grafana-schema")
    (workdir / "package.json").write_text('{"private": true}\n')
    result = opslib.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES], cwd=workdir, timeout=600
    )
    binary = workdir / "node_modules" / ".bin" / "tsc"
    if result.returncode != 0 or not binary.exists():
        pytest.skip(f"could not install {' '.join(PACKAGES)} with npm: {result.stderr.strip()[-400:]}")
    (workdir / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return str(binary), workdir


def _write_ts(workdir: Path, name: str, dashboard: dict[str, Any]) -> None:
    body = json.dumps(dashboard, indent=2, ensure_ascii=False)
    (workdir / f"{name}.ts").write_text(f"{TS_HEADER}export const d = ({body}) satisfies Literalize<Dashboard>;\n")


def _compile(tsc: tuple[str, Path]) -> str:
    binary, workdir = tsc
    result = opslib.run([binary, "-p", "tsconfig.json"], cwd=workdir, timeout=300)
    return (result.stdout + result.stderr) if result.returncode else ""


def test_dashboards_satisfy_grafana_dashboard_types(
    tsc: tuple[str, Path], dashboards: dict[str, dict[str, Any]]
) -> None:
    _, workdir = tsc
    for old in workdir.glob("*.ts"):
        old.unlink()
    for filename, dashboard in dashboards.items():
        _write_ts(workdir, filename.removesuffix(".json").replace("-", "_"), dashboard)
    errors = _compile(tsc)
    assert errors == "", errors


def test_type_check_rejects_a_broken_dashboard(tsc: tuple[str, Path], dashboards: dict[str, dict[str, Any]]) -> None:
    _, workdir = tsc
    for old in workdir.glob("*.ts"):
        old.unlink()
    broken = json.loads(json.dumps(dashboards["powerstrip-dli.json"]))
    panels = [p for p in broken["panels"] if p["type"] != "row"]
    panels[0]["gridPos"] = "top left"
    panels[1]["fieldConfig"]["defaults"]["unitt"] = "volt"
    panels[2]["descripton"] = "typo"
    broken["title"] = 5
    _write_ts(workdir, "broken", broken)
    errors = _compile(tsc)
    assert "not assignable to type '{ h: number;" in errors or "GridPos" in errors, errors
    assert "'\"unitt\"' does not exist" in errors, errors
    assert "'\"descripton\"' does not exist" in errors, errors
    assert "Type 'number' is not assignable to type 'string'" in errors, errors
