"""`GET /runbook`: the alert runbook (docs/runbook.md) as an HTML page, one anchor per alert.

Every alert's `runbook_url` points here (prometheus/alerts.yml), so the link in a notification opens
the runbook of the exporter version that is running, with nothing else to publish or keep in step.
The Markdown ships in the package (`exporter/web/runbook.md`, a link to docs/runbook.md in a source
tree), so a plain install serves it too. Headings get the anchors GitHub gives them, so one
`#<alert name in lower case>` works here and on the repository's rendering of the same file.
"""

from __future__ import annotations

import re
from functools import cache
from html import escape
from importlib import resources
from itertools import pairwise

from aiohttp import web
from markdown_it import MarkdownIt

from exporter import __version__

RUNBOOK_PATH = "/runbook"


def heading_anchor(text: str, taken: set[str]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes, `-1`, `-2`... on repeats."""
    base = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    anchor, n = base, 0
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor


def render(markdown: str) -> str:
    """The page body: CommonMark with tables, raw HTML in the source escaped, an `id` on every heading."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    taken: set[str] = set()
    for opening, inline in pairwise(tokens):
        if opening.type == "heading_open":
            opening.attrSet("id", heading_anchor(inline.content, taken))
    return str(md.renderer.render(tokens, md.options, {}))


@cache
def runbook_page() -> str:
    markdown = resources.files("exporter.web").joinpath("runbook.md").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>powerstrip-exporter runbook</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}code{{background:#f4f4f4}}
pre{{background:#f4f4f4;padding:8px;overflow-x:auto}}</style></head>
<body><p><a href="/">powerstrip-exporter</a> {escape(__version__)}</p>
{render(markdown)}</body></html>
"""


async def runbook(request: web.Request) -> web.StreamResponse:
    return web.Response(text=runbook_page(), content_type="text/html")
