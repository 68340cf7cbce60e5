"""The `targets[]` entry for one DLI power controller."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from yarl import URL

from exporter.config.types import Duration, FilePath, Secret, SecretFile, SecretStr, TargetEntry, pick_secret

Quantity = Literal["voltage", "current", "energy", "power", "temperature", "humidity"]

#: Device `quantity` strings understood without configuration. Only "voltage" is
#: seen in DLI's own docs; the rest are guesses, hence `quantity_aliases`.
DEFAULT_QUANTITY_ALIASES: dict[str, Quantity] = {
    "voltage": "voltage",
    "current": "current",
    "energy": "energy",
    "total_energy": "energy",
    "power": "power",
    "active_power": "power",
    "temperature": "temperature",
    "humidity": "humidity",
    "relative_humidity": "humidity",
}


def _check_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    try:
        url = URL(value)
    except ValueError:
        raise ValueError(f'expected an http(s) URL, got "{value}"') from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f'expected an http(s) URL, got "{value}"')
    if url.user is not None or url.password is not None:
        # A password in the URL would end up in logs and on /config.
        raise ValueError("must not contain credentials; use username and password")
    if url.query_string or url.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


class DliEntry(TargetEntry):
    """One DLI controller: `name` is both the target name and the `device` label."""

    source: Literal["dli"]
    url: str
    username: Annotated[str, Field(min_length=1, pattern=r"^[^:]+$")]
    password: SecretStr | None = None
    password_file: SecretFile | None = None
    auth: Literal["digest", "basic"] = "digest"
    ca_file: FilePath | None = None
    insecure_skip_verify: bool = False
    identity_interval: Duration = 3600.0
    humidity_unit: Literal["percent", "ratio"] = "percent"
    quantity_aliases: dict[str, Quantity] = Field(default_factory=dict)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: object) -> str:
        return _check_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> DliEntry:
        pick_secret(self, "password", "password_file")
        if self.ca_file is not None and self.insecure_skip_verify:
            raise ValueError("set either ca_file or insecure_skip_verify, not both")
        if (self.ca_file is not None or self.insecure_skip_verify) and not self.url.startswith("https://"):
            raise ValueError("ca_file and insecure_skip_verify need an https:// url")
        return self

    def credential(self) -> Secret:
        """The password from `password` or `password_file` (the validator guarantees exactly one)."""
        secret = self.password if self.password is not None else self.password_file
        assert secret is not None  # guaranteed by _consistent
        return secret

    def aliases(self) -> dict[str, Quantity]:
        return {**DEFAULT_QUANTITY_ALIASES, **self.quantity_aliases}
