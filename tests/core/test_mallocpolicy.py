"""The allocator policy: after a big buffer is freed, RSS comes back to where it was.

Run in a child interpreter, so the fixed threshold (and the heap it shapes) is the child's alone."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import sys
    from exporter.mallocpolicy import return_big_blocks

    def rss_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    if sys.argv[1] == "policy":
        assert return_big_blocks(), "mallopt refused the threshold"
    # What a hostile answer does to a read buffer: grow it to 8 MiB in 64 KiB chunks, then drop it.
    # A first round moves glibc's default threshold up; the second is measured.
    for _ in range(2):
        before = rss_kb()
        body = bytearray()
        while len(body) <= 8 * 1024 * 1024:
            body += b"x" * 65536
        del body
        after = rss_kb()
    print(after - before)
    """
)


def _kept_kb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the policy is glibc's mallopt")
def test_a_big_buffer_gives_its_memory_back_once_freed() -> None:
    assert _kept_kb("policy") < 2048, "the policy should return all but a heap remnant below the threshold"
    assert _kept_kb("default") > 4096, "glibc's default keeps the memory (else this test proves nothing)"
