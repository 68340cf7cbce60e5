"""A poll's components are made when the landing page first reads them, once, and not before."""

from __future__ import annotations

from exporter.sources.api import Component, LazyComponents


def test_components_are_made_at_the_first_read_and_only_once() -> None:
    made: list[int] = []
    strip = Component("strip", "7", "rack 1", "up", parts=(Component("port", "1", "web", "on"),))

    def make() -> tuple[Component, ...]:
        made.append(1)
        return (strip,)

    lazy = LazyComponents(make)
    assert made == [], "nothing is made while nobody reads them"
    assert list(lazy) == [strip]
    assert len(lazy) == 1 and lazy[0] is strip and lazy[:1] == (strip,)
    assert lazy == (strip,) and lazy != ()
    assert made == [1], "made once"
