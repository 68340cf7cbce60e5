"""The listener's TLS context from `tls_server_config`, exporter-toolkit's way.

Where a setting has no meaning here (TLS 1.3 cipher suites, which Go ignores too; a Go suite this
OpenSSL lacks) or Python's `ssl` can do only part of it (several curves), the rest is applied and
what is left out is returned as a note (`key: what and why`) for the caller to log, instead of the
file being refused.
"""

from __future__ import annotations

import ssl
import sys

from exporter.config.errors import ConfigError
from exporter.web.config_file import TLSServerConfig
from exporter.web.tls_names import CIPHER_SUITES, CURVES, TLS13_CIPHER_SUITES

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
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


def _apply_tls(ctx: ssl.SSLContext, tls: TLSServerConfig, origin: str) -> list[str]:
    """Configure `ctx`; what could not be applied, one note per setting (`key: what and why`)."""
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([f"{origin}: tls_server_config: cannot load cert_file/key_file: {err}"]) from None
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
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError([f"{origin}: tls_server_config.client_ca_file: cannot load: {err}"]) from None
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
