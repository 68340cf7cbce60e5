"""Resolving REST-style paths, including DLI's matrix selectors, against a JSON view.

Selectors (per raw, still percent-encoded, path segment):
`all;` every child, `all;k=v` every child whose field k equals v, `k=v` the same
without `all`, `=a,b` the listed children (indices of a list or fields of an
object). Once a selector is used the answer is a flat, element-major array.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


class NotFound(Exception):
    """No such resource (the simulator answers 404)."""


@dataclass(frozen=True, slots=True)
class Selection:
    values: list[Any]
    paths: list[str]
    matrix: bool


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _children(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, list):
        return [(str(i), v) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return list(node.items())
    return []


def _child(node: Any, key: str) -> Any:
    if isinstance(node, list):
        if key.isdigit() and int(key) < len(node):
            return node[int(key)]
        raise NotFound(key)
    if isinstance(node, dict) and key in node:
        return node[key]
    raise NotFound(key)


def _filters(text: str) -> list[tuple[str, Any]]:
    out = []
    for part in text.split(";"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise NotFound(part)
        out.append((unquote(name), _literal(unquote(value))))
    return out


def _match(node: Any, filters: list[tuple[str, Any]]) -> bool:
    return isinstance(node, dict) and all(node.get(k) == v for k, v in filters)


def step(node: Any, segment: str) -> tuple[list[tuple[str, Any]], bool]:
    """Children selected by one raw segment, and whether it was a matrix selector."""
    if segment == "all;" or segment.startswith("all;"):
        filters = _filters(segment[4:])
        return [(k, v) for k, v in _children(node) if _match(v, filters) or not filters], True
    if segment.startswith("="):
        keys = [unquote(k) for k in segment[1:].split(",") if k]
        return [(k, _child(node, k)) for k in keys], True
    if "=" in segment:
        filters = _filters(segment)
        return [(k, v) for k, v in _children(node) if _match(v, filters)], True
    key = unquote(segment)
    return [(key, _child(node, key))], False


def select(root: Any, segments: list[str]) -> Selection:
    nodes: list[tuple[str, Any]] = [("", root)]
    matrix = False
    for segment in segments:
        nxt: list[tuple[str, Any]] = []
        for path, node in nodes:
            chosen, is_matrix = step(node, segment)
            matrix = matrix or is_matrix
            nxt.extend((f"{path}{k}/", v) for k, v in chosen)
        nodes = nxt
    return Selection([v for _, v in nodes], [p for p, _ in nodes], matrix)


def limit_depth(value: Any, depth: int) -> Any:
    """`Range: dli-depth=N`: containers deeper than N become `{"$ref": "<key>/"}`."""
    if not isinstance(value, dict | list):
        return value
    items = _children(value)
    out = [
        (k, {"$ref": f"{k}/"} if depth <= 1 and isinstance(v, dict | list) else limit_depth(v, depth - 1))
        for k, v in items
    ]
    if isinstance(value, list):
        return [v for _, v in out]
    return dict(out)
