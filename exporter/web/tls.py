"""The listener's TLS context from `tls_server_config`, exporter-toolkit's way.

Where a setting has no meaning here (TLS 1.3 cipher suites, which Go ignores too; a Go suite this
OpenSSL lacks) or Python's `ssl` can do only part of it (several curves), the rest is applied and
what is left out is returned as a note (`key: what and why`) for the caller to log, instead of the
file being refused.
"""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from exporter.config.errors import ConfigError
from exporter.web.config_file import TLSServerConfig
from exporter.web.tls_names import CIPHER_SUITES, CURVES, TLS13_CIPHER_SUITES

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,  # exporter-toolkit's older name of RequireAnyClientCert
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def build_context(tls: TLSServerConfig, origin: str) -> tuple[ssl.SSLContext, list[str]]:
    """A server context for `tls`, and what of it could not be applied; `origin` names the file in errors."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    return ctx, _apply_tls(ctx, tls, origin)


@contextmanager
def _pem_file(path: str | None, pem: str | None) -> Iterator[str]:
    """A path `ssl` can read the PEM from: `path` itself, or the inline text in an anonymous in-memory
    file (a private temporary file where there is none), gone once loaded. `ssl` loads certificates
    and keys from paths only."""
    if path:
        yield path
        return
    data = (pem or "").encode()
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("powerstrip-exporter-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="powerstrip-exporter-tls-") as directory:  # mode 0700
        file = Path(directory) / "pem"
        file.write_bytes(data)
        yield str(file)


def load_certificate(ctx: ssl.SSLContext, tls: TLSServerConfig, origin: str) -> None:
    """The exporter's certificate and key, from their files or inline, into `ctx`."""
    what = f"{'cert_file' if tls.cert_file else 'cert'}/{'key_file' if tls.key_file else 'key'}"
    key = tls.key.reveal() if tls.key is not None else None
    try:
        with _pem_file(tls.cert_file, tls.cert) as cert_path, _pem_file(tls.key_file, key) as key_path:
            ctx.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([f"{origin}: tls_server_config: cannot load {what}: {err}"]) from None


def _apply_tls(ctx: ssl.SSLContext, tls: TLSServerConfig, origin: str) -> list[str]:
    """Configure `ctx`; what could not be applied, one note per setting (`key: what and why`)."""
    load_certificate(ctx, tls, origin)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _VERSIONS[tls.max_version]
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    notes = _apply_cipher_suites(ctx, tls.cipher_suites) if tls.cipher_suites else []
    if tls.curve_preferences:
        notes += _apply_curves(ctx, tls.curve_preferences)
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.client_ca_file or tls.client_ca:
        name = "client_ca_file" if tls.client_ca_file else "client_ca"
        try:
            if tls.client_ca_file:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
            else:
                ctx.load_verify_locations(cadata=tls.client_ca)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError([f"{origin}: tls_server_config.{name}: cannot load: {err}"]) from None
    return notes


def _apply_cipher_suites(ctx: ssl.SSLContext, suites: list[str]) -> list[str]:
    """TLS 1.0-1.2 suites in the listed order. TLS 1.3 suites and suites this OpenSSL lacks (RC4, 3DES)
    are left out and noted; when none is left, OpenSSL's default TLS 1.2 suites stay."""
    key = "tls_server_config.cipher_suites"
    notes = []
    tls13 = [name for name in suites if name in TLS13_CIPHER_SUITES]
    if tls13:
        notes.append(
            f"{key}: {', '.join(tls13)} ignored: TLS 1.3 suites cannot be chosen (all three are always "
            "enabled, as in Go)"
        )
    wanted = [name for name in suites if name in CIPHER_SUITES]
    usable = [name for name in wanted if _available(CIPHER_SUITES[name])]
    missing = [name for name in wanted if name not in usable]
    if missing:
        notes.append(
            f"{key}: {', '.join(missing)} ignored: not available in this Python's OpenSSL ({ssl.OPENSSL_VERSION})"
        )
    if usable:
        ctx.set_ciphers(":".join(CIPHER_SUITES[name] for name in usable))
    elif wanted:
        notes.append(f"{key}: none of the TLS 1.2 suites listed is available; OpenSSL's default suites are used")
    return notes


def _available(openssl_name: str) -> bool:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.set_ciphers(openssl_name)
    except ssl.SSLError:
        return False
    return any(cipher["name"] == openssl_name for cipher in probe.get_ciphers())


def _apply_curves(ctx: ssl.SSLContext, curves: list[str]) -> list[str]:
    """The key-exchange groups: all of them where this Python can set a list (`set_groups`), else only
    the most preferred one, so that no curve that was not listed is ever used."""
    names = [CURVES[name] for name in curves]
    set_groups = getattr(ctx, "set_groups", None)
    if len(names) > 1 and callable(set_groups):
        try:
            set_groups(":".join(names))
        except (TypeError, ValueError, ssl.SSLError):
            pass
        else:
            return []
    ctx.set_ecdh_curve(names[0])
    if len(names) == 1:
        return []
    return [
        f"tls_server_config.curve_preferences: {', '.join(curves[1:])} ignored: this Python's ssl "
        f"({sys.version.split()[0]}) can restrict the key exchange to one curve only, so {curves[0]} is used alone"
    ]
