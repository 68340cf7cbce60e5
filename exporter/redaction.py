"""One redaction for every text that leaves the process: error messages, logs, pages and API answers.

Secrets are registered once, process-wide. Two redactions use them, chosen by who shaped the text:

- `redact`, for text an upstream sent. Upstreams echo what they were sent (a password in an error
  page, a key in a JSON message), and messages are cut to a readable length. So every piece of
  `MIN_PIECE` characters or more of any registered secret is replaced, in whichever form an upstream
  may echo it (raw, URL-encoded, JSON-escaped, or inside an HTTP Basic credential). Redact before
  cutting; what a cut leaves behind later is shorter than `MIN_PIECE` by then.
- `redact_whole`, for text a caller may have chosen (a request's path, an alert's labels) and for
  whatever reaches a log line. Replacing pieces there would be an oracle: whether `<redacted>` comes
  back would tell a caller whether the text they chose occurs in a secret, one character at a time.
  So only a whole secret (of `MIN_PIECE` characters or more) is replaced: a caller learns nothing
  they did not send. Short secrets are left alone there, since redacting them would confirm a guess
  that is cheap to enumerate.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MIN_PIECE = 8
"""Any run of this many characters copied from a secret is redacted, wherever it stands."""
MIN_EXACT = 4
"""Secrets shorter than `MIN_PIECE` are redacted only where they appear whole, as a word of their own
(`1234` in `password 1234`, not in `12345`), only from this length on, and never in label values:
shorter values match ordinary text everywhere and cannot be kept apart from it."""
REDACTED = "<redacted>"
_MEMO_LIMIT = 100_000


def echo_forms(secret: str) -> set[str]:
    """The spellings of `secret` an upstream is likely to echo."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= {form.lower() for form in forms if "%" in form}  # percent-escapes in lower-case hex
    return {form for form in forms if form}


def basic_credential(username: str, password: str) -> str:
    """The token an HTTP Basic `Authorization` header carries; an upstream may echo that header."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class SecretRegistry:
    """Secrets known to the process, and the redaction that keeps them out of any text.

    Registration happens where a secret is read (config, clients); redaction may run on any thread,
    so the lookup tables are replaced whole, never changed in place."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pieces: frozenset[str] = frozenset()
        self._exact: tuple[str, ...] = ()
        self._short: re.Pattern[str] | None = None
        self._long: frozenset[str] = frozenset()
        self._whole: re.Pattern[str] | None = None
        self.longest = 0
        """Length of the longest registered form: how far past a cut a secret may reach."""
        self._memo: dict[str, str] = {}

    def register(self, *secrets: str) -> None:
        new = {s for s in secrets if s and s not in self._secrets}
        if not new:
            return
        with self._lock:
            new -= self._secrets
            forms = {form for secret in new for form in echo_forms(secret)}
            pieces = {form[i : i + MIN_PIECE] for form in forms for i in range(len(form) - MIN_PIECE + 1)}
            exact = {f for f in forms if MIN_EXACT <= len(f) < MIN_PIECE} | set(self._exact)
            self._pieces = self._pieces | pieces
            self._exact = tuple(sorted(exact, key=len, reverse=True))
            words = "|".join(map(re.escape, self._exact))
            self._short = re.compile(rf"(?<![0-9A-Za-z])(?:{words})(?![0-9A-Za-z])") if words else None
            self._long = self._long | {f for f in forms if len(f) >= MIN_PIECE}
            # Longest first, so that a form inside another (a secret inside its JSON-escaped form) goes with it.
            whole = "|".join(map(re.escape, sorted(self._long, key=len, reverse=True)))
            self._whole = re.compile(whole) if whole else None
            self.longest = max(self.longest, *(len(form.encode()) for form in forms), 0)
            self._secrets = self._secrets | new
            self._memo = {}

    def redact(self, text: str, *, short: bool = True) -> str:
        """`text` with every piece of `MIN_PIECE`+ characters of a registered secret replaced, and
        (unless `short` is False) every short secret standing as a word of its own."""
        pieces, pattern = self._pieces, self._short
        if not text:
            return text
        if pieces and len(text) >= MIN_PIECE:
            text = _replace_runs(text, pieces)
        if short and pattern is not None:
            text = pattern.sub(REDACTED, text)
        return text

    def redact_whole(self, text: str) -> str:
        """`text` with every whole registered secret of `MIN_PIECE`+ characters (in any echo form)
        replaced, and nothing else: for text a caller may have chosen (see the module docstring)."""
        pattern = self._whole
        if pattern is None or len(text) < MIN_PIECE:
            return text
        return pattern.sub(REDACTED, text)

    def snapshot(self) -> tuple[object, ...]:
        """The registry's whole state, for `restore` (tests keep one test's secrets from the next)."""
        return (self._secrets, self._pieces, self._exact, self._short, self._long, self._whole, self.longest)

    def restore(self, state: tuple[object, ...]) -> None:
        with self._lock:
            (self._secrets, self._pieces, self._exact, self._short, self._long, self._whole, self.longest) = state  # type: ignore[assignment]
            self._memo = {}

    def redact_all(self, texts: Iterable[str]) -> list[str]:
        return [self.redact(text) for text in texts]

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def redact_label(self, value: str) -> str:
        """`redact` for label values: the same few thousand strings every poll, so answers are memoised."""
        if len(value) < MIN_PIECE or not self._pieces:
            return value
        memo = self._memo
        out = memo.get(value)
        if out is None:
            out = self.redact(value, short=False)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[value] = out
        return out


def _replace_runs(text: str, pieces: frozenset[str]) -> str:
    """Every window of `MIN_PIECE` characters found in `pieces` is covered; overlapping windows
    merge into one run, so any longer copied stretch (a union of its windows) goes whole."""
    runs: list[tuple[int, int]] = []
    for i in range(len(text) - MIN_PIECE + 1):
        if text[i : i + MIN_PIECE] in pieces:
            end = i + MIN_PIECE
            if runs and i <= runs[-1][1]:
                runs[-1] = (runs[-1][0], max(runs[-1][1], end))
            else:
                runs.append((i, end))
    if not runs:
        return text
    out: list[str] = []
    last = 0
    for start, end in runs:
        out += (text[last:start], REDACTED)
        last = end
    out.append(text[last:])
    return "".join(out)


SECRETS = SecretRegistry()
"""The process's registry: config secrets register when read, clients register what they send."""


def register_secret(*secrets: str) -> None:
    SECRETS.register(*secrets)


def redact(text: str) -> str:
    return SECRETS.redact(text)


def redact_whole(text: str) -> str:
    return SECRETS.redact_whole(text)


def redact_cut(text: str, limit: int) -> str:
    """Redact, then cut to `limit` characters (with "..." when cut): the order that leaks nothing."""
    text = SECRETS.redact(text)
    return text if len(text) <= limit else text[:limit] + "..."
