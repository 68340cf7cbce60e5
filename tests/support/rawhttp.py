"""Raw HTTP/1.1 over a socket: for requests no client library sends (half a request, a body that
stops early, chunked bodies of any size) and for seeing exactly what the listener answers."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RawAnswer:
    status: int | None
    """None when the connection closed without an answer."""
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def parse_answer(data: bytes, seconds: float) -> RawAnswer:
    if not data:
        return RawAnswer(None, {}, b"", seconds)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, val = line.partition(":")
        headers[name.strip().lower()] = val.strip()
    return RawAnswer(status, headers, body, seconds)


async def exchange(
    port: int,
    *parts: bytes,
    pause: float = 0.0,
    deadline: float = 30.0,
    host: str = "127.0.0.1",
    source: str | None = None,
) -> RawAnswer:
    """Send `parts` (with `pause` seconds between them), keep the connection open, and read until the
    server closes it or has sent one whole answer. Fails if nothing happens within `deadline`.
    `source`: the local address to connect from (any of 127.0.0.0/8 stands for another client)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0) if source else None)
    try:
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        data = b""
        async with asyncio.timeout(deadline):
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
                answer = parse_answer(data, 0.0) if b"\r\n\r\n" in data else None
                if answer is not None and len(answer.body) >= int(answer.headers.get("content-length", "-1")) >= 0:
                    break
        return parse_answer(data, time.monotonic() - start)
    finally:
        writer.close()


def request(method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """A whole request; `Content-Length` is added for a body unless a header says otherwise."""
    fields = {"Host": "127.0.0.1", **(headers or {})}
    if body and "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + body


def chunked(data: bytes, size: int = 4096) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"
