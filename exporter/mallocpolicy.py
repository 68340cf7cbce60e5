"""C allocator settings: memory taken for one big answer goes back to the system when it is freed.

glibc's malloc serves blocks above a threshold with their own mapping, returned at `free`; the
rest comes from the heap, which keeps freed memory for reuse. By default the threshold moves up
to the size of the largest mapped block freed so far (up to 32 MiB), so after one big answer (a
hostile upstream's 8 MiB, say) every later buffer of that size lands on the heap, and RSS settles
on a plateau a few megabytes higher, at a level that depends on which answers came in which order.
A fixed threshold keeps RSS at the same baseline after every such answer. The soak's figures
with and without it: docs/hostile.md.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameter number (malloc.h)."""
MMAP_THRESHOLD_BYTES = 1024 * 1024
"""Blocks from this size up get their own mapping. Above the buffers a scrape or an ordinary poll
allocates at the demo's and a thousand strips' sizes, so their memory is reused, not remapped."""


def return_big_blocks(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes (which also stops it from moving).
    False where the C library is not glibc, and nothing changes."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it; musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
