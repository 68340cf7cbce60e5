"""A YAML syntax error as one `file:line:column: message` line, in plain words.

PyYAML's messages describe its parser ("expected <block end>, but found '<block mapping start>'");
the common ones are translated into what to fix, the rest are passed on as they are.
"""

from __future__ import annotations

import re

import yaml

from exporter.config.errors import ConfigError

_PLAIN: tuple[tuple[str, str], ...] = (
    (
        r"^mapping values are not allowed here",
        "unexpected ':'; quote a value that contains ': ', or check the indentation",
    ),
    (r"^found character '\\t' that cannot start any token", "a tab character; YAML indents with spaces only"),
    (r"^found character '(.)' that cannot start any token", "a value cannot start with '{0}'; quote it"),
    (r"^expected ',' or '\}', but got '<stream end>'", "the '{{' {opened} is not closed with '}}'"),
    (r"^expected ',' or '\]', but got '<stream end>'", "the '[' {opened} is not closed with ']'"),
    (r"^expected ',' or '\}', but got", "expected ',' or '}}' in the {{...}} mapping {opened}; is a ',' missing?"),
    (r"^expected ',' or '\]', but got", "expected ',' or ']' in the [...] list {opened}; is a ',' missing?"),
    (r"^expected <block end>, but found", "the indentation does not line up with the block {opened}"),
    (r"^could not find expected ':'", "expected 'key: value'; is a ':' missing, or a quote not closed?"),
    (r"^found unexpected end of stream", "the quoted string {opened} is not closed"),
    (
        r"^found unknown escape character '(.)'",
        "'\\{0}' is not an escape in double quotes; use single quotes for backslashes",
    ),
    (r"^found undefined alias '(.*)'", "'*{0}' refers to no anchor; quote values that start with '*'"),
    (r"^but found another document", "a second document ('---'); the config is one document"),
)


def plain_problem(problem: str, context_line: int | None = None) -> str:
    """`opened`: where the unclosed bracket, quote or block began, when PyYAML knows it."""
    opened = f"opened at line {context_line}" if context_line is not None else "opened above"
    for pattern, text in _PLAIN:
        match = re.match(pattern, problem)
        if match:
            return text.format(*match.groups(), opened=opened)
    return problem


def yaml_syntax_error(origin: str, err: yaml.YAMLError) -> ConfigError:
    """One line naming the place, where an editor jumps to it; the context's line when it helps."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
    context_mark = getattr(err, "context_mark", None)
    message = plain_problem(problem, context_mark.line + 1 if context_mark is not None else None)
    return ConfigError([f"{where}: YAML syntax error: {message}"], located=True)
