"""The shared redaction: no piece of MIN_PIECE or more characters of a secret survives, whatever
surrounds it, in whatever form it was echoed, and wherever the text is cut before or after."""

from __future__ import annotations

import json
from unittest.mock import patch
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.redaction import MIN_PIECE, REDACTED, SECRETS, SecretRegistry, basic_credential, echo_forms
from exporter.sources import httpclient

SECRET_CHARS = st.characters(codec="utf-8", exclude_characters="<>\x00", exclude_categories=("Cs",))
secrets_ = st.text(SECRET_CHARS, min_size=MIN_PIECE, max_size=64)
around = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120)


def surviving(text: str, secret: str) -> list[str]:
    """Pieces of `secret` (and of its echo forms) of MIN_PIECE characters left in `text`; the marker
    itself is blanked first so a secret that shares letters with it is judged fairly."""
    text = text.replace(REDACTED, "\x00")
    return [
        form[i : i + MIN_PIECE]
        for form in echo_forms(secret)
        for i in range(len(form) - MIN_PIECE + 1)
        if form[i : i + MIN_PIECE] in text
    ]


def registry(*secrets: str) -> SecretRegistry:
    reg = SecretRegistry()
    reg.register(*secrets)
    return reg


@settings(max_examples=300, deadline=None)
@given(secret=secrets_, before=around, after=around, form_index=st.integers(0, 10), cut=st.integers(0, 400))
def test_no_piece_survives_redact_then_cut(secret: str, before: str, after: str, form_index: int, cut: int) -> None:
    forms = sorted(echo_forms(secret))
    echoed = forms[form_index % len(forms)]
    out = registry(secret).redact(before + echoed + after)
    assert surviving(out[:cut], secret) == []
    assert surviving(out[cut:], secret) == []


@settings(max_examples=300, deadline=None)
@given(secret=secrets_, before=around, after=around, cut=st.integers(0, 400), keep_head=st.booleans())
def test_no_piece_survives_cut_then_redact(secret: str, before: str, after: str, cut: int, keep_head: bool) -> None:
    """Even text cut before it was redacted keeps no piece of MIN_PIECE characters."""
    text = before + secret + after
    piece = text[:cut] if keep_head else text[cut:]
    assert surviving(registry(secret).redact(piece), secret) == []


@given(secret=secrets_, text=around)
def test_text_without_secrets_is_unchanged(secret: str, text: str) -> None:
    reg = registry(secret)
    if not surviving(text, secret) and all(f not in text for f in echo_forms(secret)):
        assert reg.redact(text) == text


def test_forms_and_credentials() -> None:
    secret = 'p@ss word/with"quote'
    reg = registry(secret, basic_credential("admin", secret))
    for echoed in (secret, quote(secret, safe=""), quote(secret, safe="").lower(), json.dumps(secret)[1:-1]):
        assert surviving(reg.redact(f"error: {echoed}!"), secret) == [], echoed
    credential = basic_credential("admin", secret)
    assert credential not in reg.redact("Authorization: Basic " + credential)


def test_short_secrets_are_redacted_whole_only() -> None:
    reg = registry("1234", "ab")
    assert reg.redact("code 1234 at 12:34") == f"code {REDACTED} at 12:34"
    assert reg.redact("ab cd") == "ab cd", "two characters are too common to redact"
    assert reg.redact("network 12345, strip 41234") == "network 12345, strip 41234", "only as a word of its own"
    assert reg.redact_label("1234") == "1234", "label values are data: short secrets are not redacted there"


@settings(max_examples=200, deadline=None)
@given(secret=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="<>"), min_size=16,
                      max_size=40),
       offset=st.integers(0, 100))  # fmt: skip
def test_snippet_redacts_before_its_cut(secret: str, offset: int) -> None:
    """The source's error snippet (80 characters) never carries a piece of a secret that straddles the cut."""
    body = ("x" * offset + secret + "y" * 200).encode()
    with patch.object(httpclient, "SECRETS", registry(secret)):  # the process-wide registry stays clean
        assert surviving(httpclient.snippet(body), secret) == []


@settings(max_examples=300, deadline=None)
@given(secret=secrets_, probe=st.text(SECRET_CHARS, min_size=1, max_size=64), before=around, after=around)
def test_whole_redaction_tells_nothing_about_a_text_that_is_not_the_whole_secret(
    secret: str, probe: str, before: str, after: str
) -> None:
    """What a caller chose comes back unchanged unless it holds a whole secret (in some echo form):
    no piece of a secret, however long, makes `<redacted>` appear."""
    reg = registry(secret)
    text = before + probe + after
    if not any(form in text for form in echo_forms(secret)):
        assert reg.redact_whole(text) == text
    assert secret not in reg.redact_whole(before + secret + after)


def test_whole_redaction_leaves_pieces_and_short_secrets() -> None:
    reg = registry("datacenter2024!x", "1234")
    assert reg.redact_whole("device datacenter2024!x!") == f"device {REDACTED}!"
    assert reg.redact_whole("device datacent") == "device datacent"
    assert reg.redact_whole("device 1234") == "device 1234", "a short secret is cheap to guess: never confirmed"
    assert reg.redact_whole("datacenter2024%21x") == REDACTED, "URL-encoded, as a path echoes it"
    assert reg.redact("device datacent") == f"device {REDACTED}", "an upstream's text still loses any piece"


def test_log_lines_redact_whole_secrets_only_and_never_their_keys_logger_or_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    import structlog

    from exporter.logs import configure_logging

    state = SECRETS.snapshot()
    try:
        SECRETS.register("remediation-hook-token-0042", "datacenter2024!x")
        configure_logging("info", "logfmt")
        log = structlog.get_logger("exporter.remediation")
        log.info("remediation", target="datacent", whole="x datacenter2024!x", device="ediation")
        line = capsys.readouterr().err
        assert " logger=exporter.remediation msg=remediation target=datacent " in line
        assert f'whole="x {REDACTED}" device=ediation' in line
        try:
            raise ValueError("upstream said: datacenter2")
        except ValueError as exc:
            log.error("unexpected poll error", exc_info=exc)
        assert "datacenter2" not in capsys.readouterr().err, "a traceback is upstream text: pieces go"
        logging.getLogger("aiohttp.client").warning("upstream said %s", "datacenter2")
        assert "datacenter2" not in capsys.readouterr().err, "so is another library's message"
    finally:
        SECRETS.restore(state)
