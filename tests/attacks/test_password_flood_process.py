"""Attack: a 48-way wrong-password flood against basic auth, through the real process, while six
users log in for the first time (no cached login: each costs a bcrypt check).

bcrypt is slow on purpose, so the exporter checks only a few passwords at once. During such a flood
2 of 6 fresh valid logins used to get 401, as if their password were wrong. Now a login refused
because the checks are busy is answered 429 (this client already has its share of checks in flight)
or 503 (all checks busy), with `Retry-After`, never 401. One client's flood holds only its share of
the checks, and clients that gave a wrong password lately only half of them, so once the flood's
guesses have failed, the other users' logins are checked and let in, whether the flood comes from
one address or from 48.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import bcrypt
import pytest

from tests.core.fake_exporter import GOOD, FakeExporter
from tests.core.https import basic
from tests.support.rawhttp import RawAnswer, exchange, request

USERS_ADDRESS = "127.0.0.3"
WAYS = 48
USERS = 6
COST = 10
"""bcrypt cost of the configured hashes (htpasswd -B's default is 5; 10 to 12 are common)."""


def basic_closing(user: str, password: str) -> dict[str, str]:
    return {**basic(user, password), "Connection": "close"}


async def login(port: int, user: str, password: str, source: str) -> RawAnswer:
    return await exchange(port, request("GET", "/-/ready", headers=basic_closing(user, password)), source=source)


async def flood(port: int, sources: list[str], stop: asyncio.Event, statuses: Counter[int | None]) -> None:
    async def guesser(way: int) -> None:
        guess = 0
        while not stop.is_set():
            guess += 1
            answer = await login(port, "user0", f"guess-{way}-{guess}", sources[way % len(sources)])
            statuses[answer.status] += 1

    await asyncio.gather(*(guesser(way) for way in range(WAYS)))


@pytest.mark.parametrize(
    "sources",
    [["127.0.0.2"], [f"127.0.0.{10 + way}" for way in range(WAYS)]],
    ids=["from one address", "from 48 addresses"],
)
async def test_valid_logins_during_a_wrong_password_flood_are_never_answered_401(
    tmp_path: Path, sources: list[str]
) -> None:
    passwords = {f"user{i}": f"password-of-user-{i}" for i in range(USERS)}
    users = "".join(
        f"  {user}: '{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=COST)).decode()}'\n"
        for user, pw in passwords.items()
    )
    (tmp_path / "web.yml").write_text("basic_auth_users:\n" + users)
    async with FakeExporter(tmp_path, GOOD, args=["--web.config.file", str(tmp_path / "web.yml")]) as exp:
        stop = asyncio.Event()
        flooded: Counter[int | None] = Counter()
        attack = asyncio.create_task(flood(exp.port, sources, stop, flooded))
        try:

            async def every_guesser_failed() -> bool:
                return flooded[401] >= WAYS

            await exp.wait_for(every_guesser_failed, timeout=120, what=f"the flood under way ({flooded})")
            logins = [await login(exp.port, user, pw, USERS_ADDRESS) for user, pw in passwords.items()]
        finally:
            stop.set()
            await attack
    statuses = [answer.status for answer in logins]
    assert 401 not in statuses, f"a valid login looked like a wrong password: {statuses}"
    assert statuses == [200] * USERS, f"fresh valid logins during the flood: {statuses}"
    assert set(flooded) <= {401, 429, 503}, flooded
    busy = 429 if len(sources) == 1 else 503
    assert flooded[busy] > 0, f"the flood was never held to its share: {flooded}"
