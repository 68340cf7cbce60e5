"""One benchmark scraper: a minimal HTTP/1.1 client on a raw socket, run as its own process.

The harness starts one process per concurrent scraper, so the scrapers never share a
GIL and a slow client cannot distort the exporter's figures. Each process waits
for a common start time, then requests `/metrics` back to back (keep-alive when the
server allows it, a new connection otherwise) until it has made `--count` requests
or `--seconds` have passed (closed loop: a saturation test), or, with `--period`, starts
request k at start + k x period (open loop: scrapers given the same start ask at
once, as Prometheus servers do, without saturating the machine), and writes one
JSON line per request:
`[wall_start, seconds_to_first_byte, seconds_total, body_bytes, status]`.

Standard library only, so it starts fast and measures little of itself.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

_BUFFER = 64 << 20


class _Conn:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers


def fetch(
    conn: _Conn | None, host: str, port: int, request: bytes, buf: bytearray, timeout: float
) -> tuple[_Conn | None, float, float, int, int]:
    """One request; returns the connection to reuse (or None), TTFB, total, body size, status."""
    view = memoryview(buf)
    start = time.perf_counter()
    if conn is None:
        conn = _Conn(host, port, timeout)
    sock = conn.sock
    sock.sendall(request)
    got = 0
    first = 0.0
    head_end = -1
    length: int | None = None
    status = 0
    keep = True
    while True:
        n = sock.recv_into(view[got:])
        if n == 0:
            if head_end >= 0 and length is None:
                break  # body delimited by the end of the connection
            raise ConnectionError("server closed the connection mid-response")
        if got == 0:
            first = time.perf_counter() - start
        got += n
        if head_end < 0:
            head_end = buf.find(b"\r\n\r\n", 0, got)
            if head_end >= 0:
                status, headers = _parse_head(bytes(buf[:head_end]))
                if "content-length" in headers:
                    length = int(headers["content-length"])
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    raise ValueError("chunked responses are not supported by the bench scraper")
                version = bytes(buf[:8])
                keep = headers.get("connection", "").lower() != "close" and version == b"HTTP/1.1"
        if head_end >= 0 and length is not None and got >= head_end + 4 + length:
            break
        if got >= len(buf):
            raise ValueError("response larger than the scraper's buffer")
    total = time.perf_counter() - start
    body = got - head_end - 4
    if not keep or length is None:
        conn.close()
        conn = None
    return conn, first, total, body, status


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one /metrics scraper (bench harness)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/metrics")
    parser.add_argument("--header", action="append", default=[], help="extra request header, NAME: VALUE")
    parser.add_argument("--count", type=int, default=200, help="at most this many requests")
    parser.add_argument("--seconds", type=float, default=5.0, help="issue no new request after this long")
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock time to begin at")
    parser.add_argument("--timeout", type=float, default=120.0, help="socket timeout per request")
    parser.add_argument("--period", type=float, default=0.0, help="open loop: one request every PERIOD seconds")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    head = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nUser-Agent: powerstrip-bench\r\n"
    request = (head + "".join(h + "\r\n" for h in args.header) + "\r\n").encode("latin-1")
    buf = bytearray(_BUFFER)
    delay = args.start_at - time.time()
    if 0 < delay < 30:
        time.sleep(delay)
    begin = time.monotonic()
    deadline = begin + args.seconds
    conn: _Conn | None = None
    with open(args.out, "w", encoding="utf-8") as out:
        for k in range(args.count):
            if args.period > 0:
                pause = begin + k * args.period - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            if time.monotonic() >= deadline:
                break
            wall = time.time()
            try:
                conn, first, total, size, status = fetch(conn, args.host, args.port, request, buf, args.timeout)
            except (OSError, ValueError) as err:
                out.write(json.dumps([wall, None, None, 0, str(err)]) + "\n")
                if conn is not None:
                    conn.close()
                conn = None
                continue
            out.write(json.dumps([wall, first, total, size, status]) + "\n")
    if conn is not None:
        conn.close()


if __name__ == "__main__":
    main()
