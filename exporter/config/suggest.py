""" "Did you mean ...?" for unknown config keys: the keys the schema allows at that place, closest first."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Tag


def _unwrap(node: Any) -> Any:
    """Strip Annotated and `X | None`, keeping a union of several real types as it is."""
    while True:
        if typing.get_origin(node) is Annotated:
            node = typing.get_args(node)[0]
            continue
        if typing.get_origin(node) in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(node) if arg is not type(None)]
            if len(members) == 1:
                node = members[0]
                continue
        return node


def _tagged(node: Any, tag: str) -> Any:
    """The member of a discriminated union whose `Tag` is `tag` (pydantic puts the tag in the error path)."""
    for member in typing.get_args(node):
        tags = member.__metadata__ if typing.get_origin(member) is Annotated else ()
        if any(isinstance(meta, Tag) and meta.tag == tag for meta in tags):
            return typing.get_args(member)[0]
    return None


def _step(node: Any, part: str | int) -> Any:
    node = _unwrap(node)
    origin = typing.get_origin(node)
    if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(part, str):
        for name, field in node.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    if origin in (list, tuple, Sequence) and isinstance(part, int):
        return typing.get_args(node)[0]
    if origin is dict and isinstance(part, str):
        return typing.get_args(node)[1]
    if origin in (typing.Union, types.UnionType) and isinstance(part, str):
        return _tagged(node, part)
    return None


def allowed_keys(model: type[BaseModel], parent: Sequence[str | int]) -> list[str]:
    """The keys a mapping at `parent` (a pydantic error path) may have; [] when that is not a model."""
    node: Any = model
    for part in parent:
        node = _step(node, part)
        if node is None:
            return []
    node = _unwrap(node)
    if not (isinstance(node, type) and issubclass(node, BaseModel)):
        return []
    return [field.alias or name for name, field in node.model_fields.items()]


_LONGEST_GUESS = 64


def did_you_mean(key: str, candidates: Iterable[str]) -> str:
    """` (did you mean "x"?)` for the closest candidate, or "" when none is close."""
    if len(key) > _LONGEST_GUESS:
        return ""  # no key is that long; and difflib's cost grows with it
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""
