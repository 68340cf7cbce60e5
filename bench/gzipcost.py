"""What gzip costs for one /metrics body: whole-body compression at several levels against the
per-piece scheme it replaced (every target's lines of every family deflated on their own).

    python -m bench.gzipcost http://127.0.0.1:9795/metrics

Prints sizes (and the ratio to `gzip -6` of the same text) and compression times (best of 3).
Pieces are cut where a family starts and where the first label's value changes within a
family (the first label is the network, strip or device: the unit that changes together).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable

_FIRST_LABEL = re.compile(rb'^[^{ ]+\{[^=]+="([^"]*)"')


def pieces(text: bytes) -> list[bytes]:
    out: list[bytes] = []
    current: list[bytes] = []
    key: bytes | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith(b"#"):
            if line.startswith(b"# HELP") and current:
                out.append(b"".join(current))
                current, key = [], None
            current.append(line)  # a family's header goes with its first target's lines
            continue
        m = _FIRST_LABEL.match(line)
        new_key = m.group(1) if m else None
        if key is not None and new_key != key:
            out.append(b"".join(current))
            current = []
        key = new_key
        current.append(line)
    if current:
        out.append(b"".join(current))
    return out


def per_piece(parts: list[bytes], level: int) -> bytes:
    """The replaced scheme: each piece deflated on its own, byte-aligned, concatenated."""
    out = []
    for part in parts:
        c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        out.append(c.compress(part) + c.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out) + b"\x03\x00" + bytes(18)  # final block, gzip header and trailer


def best_of(fn: Callable[[], bytes], runs: int = 3) -> tuple[int, float]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        size = len(fn())
        times.append(time.perf_counter() - start)
    return size, min(times)


def main() -> int:
    request = urllib.request.Request(sys.argv[1], headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        text = resp.read()
    reference = len(subprocess.run(["gzip", "-6", "-n", "-c"], input=text, capture_output=True, check=True).stdout)
    parts = pieces(text)
    print(f"plain {len(text):,} bytes, {len(parts):,} pieces; gzip -6: {reference:,} bytes")
    for level in (1, 4, 5, 6):
        size, took = best_of(lambda level=level: zlib.compress(text, level))  # type: ignore[misc]
        print(f"whole body, level {level}: {size:,} bytes ({size / reference:.3f}x), {1000 * took:.0f} ms")
    for level in (1, 6):
        size, took = best_of(lambda level=level: per_piece(parts, level))  # type: ignore[misc]
        print(
            f"per piece, level {level}: {size:,} bytes ({size / reference:.3f}x), {1000 * took:.0f} ms for all pieces"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
