"""The transfer floor: a static server that answers /metrics with fixed bytes and does nothing else.

    python -m bench.floor --port P --plain FILE --gzip FILE

Run by `bench.run` beside our exporter, under the same scrapers and the same polling load, it shows
what moving the same bodies through loopback costs on this machine when no exporter work at all is
involved: the latency no /metrics implementation in any language could beat here. Requests with
`Accept-Encoding: gzip` get the gzip bytes, others the plain ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path


def _response(body: bytes, extra: bytes = b"") -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
    return head + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


class _Static(asyncio.Protocol):
    def __init__(self, plain: bytes, gzipped: bytes) -> None:
        self._plain = plain
        self._gzip = gzipped
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
            wants_gzip = any(
                line.partition(b":")[0].strip() == b"accept-encoding" and b"gzip" in line.partition(b":")[2]
                for line in head.lower().split(b"\r\n")
            )
            assert self._transport is not None
            self._transport.write(self._gzip if wants_gzip else self._plain)


async def serve(port: int, plain: bytes, gzipped: bytes) -> None:
    plain_response = _response(plain)
    gzip_response = _response(gzipped, b"Content-Encoding: gzip\r\n")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Static(plain_response, gzip_response), "127.0.0.1", port)
    print(f"floor listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="static /metrics server: the transfer floor (bench harness)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plain", type=Path, required=True)
    parser.add_argument("--gzip", type=Path, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.plain.read_bytes(), args.gzip.read_bytes()))


if __name__ == "__main__":
    main()
