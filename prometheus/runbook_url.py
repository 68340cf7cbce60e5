"""Set the base URL of every alert's `runbook_url`, in one go.

Every alert in alerts.yml links to `<RUNBOOK_BASE_URL>#<alert name in lower case>`, an absolute
URL that Alertmanager, Grafana and chat tools can open. The base is set here, once:

    python prometheus/runbook_url.py                        # apply RUNBOOK_BASE_URL below
    python prometheus/runbook_url.py --base-url https://wiki.example.com/ops/powerstrip.md
    python prometheus/runbook_url.py --check                # exit 1 if a file is out of step

It rewrites the `runbook_url:` lines of alerts.yml and of the unit tests that expect them
(alerts_test.yml, alerts_thresholds_missing_test.yml), keeping each line's `#anchor`. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

RUNBOOK_BASE_URL = "https://docs.example.org/powerstrip-exporter/runbook.md"
"""Where docs/runbook.md is published. Point it at your own copy (a wiki page, a Git web view)."""

HERE = Path(__file__).resolve().parent
FILES = ("alerts.yml", "alerts_test.yml", "alerts_thresholds_missing_test.yml")

_LINE = re.compile(r"^(?P<head>[ \t]*runbook_url:[ \t]*)(?P<url>\S*?)(?P<anchor>#[a-z0-9-]+)[ \t]*$", re.MULTILINE)


def check_base(url: str) -> str:
    """The base URL, if absolute (scheme and host) and without a fragment; else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"runbook base URL {url!r} is not absolute (it needs http:// or https:// and a host)")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"runbook base URL {url!r} must not have a #fragment: the alert's anchor is appended")
    return url


def rewrite(text: str, base: str) -> str:
    return _LINE.sub(lambda m: f"{m['head']}{base}{m['anchor']}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--base-url", default=RUNBOOK_BASE_URL, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="only report files that are out of step")
    parser.add_argument("--dir", type=Path, default=HERE, help="folder with the rule files (default: this one)")
    args = parser.parse_args(argv)
    try:
        base = check_base(args.base_url)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    stale = []
    for path in (args.dir / name for name in FILES):
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, base)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"runbook_url base is not {base} in: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
