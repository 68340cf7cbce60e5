"""The soak's leak checks: growth fails them, a transient sample does not."""

from __future__ import annotations

import os
import socket

from bench.soak import Sample, analyse, read_proc


def _run(rss: list[float], fds: list[int], threads: int = 4) -> dict[str, object]:
    samples = [
        Sample(t=5.0 * i, rss_mb=r, fds=f, threads=threads) for i, (r, f) in enumerate(zip(rss, fds, strict=True))
    ]
    return analyse(samples, warmup_s=0)


STEADY = [60.0] * 72  # six minutes, a sample every 5 s
FDS = [38, 39, 40, 38, 41, 38] * 12


def test_steady_process_passes() -> None:
    r = _run(STEADY, FDS)
    assert r["rss_within_band"] and r["fds_flat"] and r["threads_flat"]


def test_a_sample_inside_a_big_read_or_a_connection_in_flight_is_not_growth() -> None:
    rss = list(STEADY)
    rss[40] = 75.0  # one sample taken while an 8 MiB answer was being read
    fds = list(FDS)
    fds[-1] = 45  # connections in flight when the last sample was taken
    r = _run(rss, fds)
    assert r["rss_within_band"] and r["fds_flat"]
    assert r["rss_sample_max_deviation_pct"] == 25.0


def test_rss_that_climbs_fails_the_band() -> None:
    rss = [60.0 + 0.2 * i for i in range(72)]  # +14 MB over six minutes
    assert not _run(rss, FDS)["rss_within_band"]


def test_a_plateau_for_minutes_fails_the_band() -> None:
    rss = [60.0] * 48 + [66.0] * 24
    assert not _run(rss, FDS)["rss_within_band"]


def test_one_leaked_fd_fails_the_fd_check() -> None:
    fds = FDS[:48] + [f + 1 for f in FDS[48:]]
    assert not _run(STEADY, fds)["fds_flat"]


def test_a_minute_cut_short_is_not_judged_on_one_sample() -> None:
    rss = [*[60.0] * 72, 75.0]  # the run ends one sample into a seventh minute, inside a big read
    assert _run(rss, [*FDS, 38])["rss_within_band"]


def _pooled(upstream: list[int], closing: list[int], bound: int = 40) -> dict[str, object]:
    samples = [
        Sample(t=5.0 * i, rss_mb=60.0, fds=38, threads=4, upstream=u, closing=c)
        for i, (u, c) in enumerate(zip(upstream, closing, strict=True))
    ]
    return analyse(samples, warmup_s=0, upstream_bound=bound)


def test_a_connection_pool_that_grows_by_two_is_not_a_leak() -> None:
    """Pools keep as many connections alive as requests ran at once: a step that stays is not growth."""
    r = _pooled([27] * 36 + [29] * 36, [0] * 72)
    assert r["fds_flat"] and r["upstream_bounded"] and r["closing_flat"]


def test_connections_beyond_what_the_pools_hold_fail() -> None:
    assert not _pooled([27 + i for i in range(72)], [0] * 72)["upstream_bounded"]


def test_a_connection_closed_by_the_peer_and_never_released_fails() -> None:
    closing = [0] * 48 + [1] * 24
    assert not _pooled([27] * 72, closing)["closing_flat"]


def test_upstream_connections_are_told_from_other_fds_by_local_port() -> None:
    """The exporter's own listener and the connections it accepted have its port; the rest it opened."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen()
    out = socket.create_connection(upstream.getsockname())
    accepted_peer = socket.create_connection(("127.0.0.1", port))
    try:
        before = read_proc(os.getpid(), port)[0]
        extra = socket.create_connection(upstream.getsockname())
        after = read_proc(os.getpid(), port)[0]
        extra.close()
    finally:
        for s in (out, accepted_peer, upstream, server):
            s.close()
    # In this process the peers' ends are ours too: a new connection adds its client end (another
    # local port: upstream) and the listener's accepted end once accepted (not here: never accepted).
    assert after.upstream == before.upstream + 1
    assert after.fds == before.fds
