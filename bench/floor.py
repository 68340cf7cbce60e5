"""The floor: nginx serving an exporter's exact bytes, by content negotiation, on loopback.

nginx is not installed by the harness. On Debian or Ubuntu: `apt-get install nginx-light`
(as root). Without it, `bench.run` says so and leaves the floor figures out.

`Floor.start` writes the four bodies (plain and OpenMetrics, each as is and gzip'd) and
an nginx config into a temporary folder, starts nginx in the foreground as a child of
the harness (stopped by its PID like every other child), and answers `/metrics` as the
exporter does: OpenMetrics when `Accept` names it, gzip when `Accept-Encoding` does,
with the exporter's Content-Type and Content-Encoding. `Floor.replace` swaps the bodies for newer
ones while it runs (the Prometheus cell keeps them as fresh as ours).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child, Children

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
HOW_TO_GET = "nginx not found: install it (Debian/Ubuntu: apt-get install nginx-light) for the floor figures"

_CONFIG = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    map $http_accept $form {{ "~*application/openmetrics-text" om; default text; }}
    map $http_accept_encoding $encoding {{ "~*gzip" -gz; default ""; }}
    server {{
        listen 127.0.0.1:{port};
        location = /metrics {{ rewrite ^ /_body/$form$encoding last; }}
        location = /_body/text {{ internal; default_type "{text_type}"; alias {dir}/text; }}
        location = /_body/om {{ internal; default_type "{om_type}"; alias {dir}/om; }}
        location = /_body/text-gz {{
            internal; default_type "{text_type}"; add_header Content-Encoding gzip; alias {dir}/text-gz;
        }}
        location = /_body/om-gz {{
            internal; default_type "{om_type}"; add_header Content-Encoding gzip; alias {dir}/om-gz;
        }}
    }}
}}
"""


def available() -> bool:
    return shutil.which("nginx") is not None


@dataclass
class Floor:
    child: Child
    port: int
    folder: Path

    @classmethod
    def start(cls, children: Children, port: int, bodies: dict[str, bytes]) -> Floor:
        """`bodies`: "text", "om", "text-gz" and "om-gz", as the exporter sent them."""
        nginx = shutil.which("nginx")
        if nginx is None:
            raise RuntimeError(HOW_TO_GET)
        folder = Path(tempfile.mkdtemp(prefix="powerstrip-floor-"))
        folder.chmod(0o755)  # nginx's workers may run as another user
        _write(folder, bodies)
        config = folder / "nginx.conf"
        config.write_text(_CONFIG.format(dir=folder, port=port, text_type=TEXT_TYPE, om_type=OM_TYPE), encoding="utf-8")
        child = children.start("floor-nginx", [nginx, "-p", str(folder), "-c", str(config)])
        return cls(child, port, folder)

    def replace(self, bodies: dict[str, bytes]) -> None:
        """Serve these bodies from now on; each file is swapped whole, so no answer mixes two."""
        _write(self.folder, bodies)

    def stop(self, children: Children) -> None:
        children.stop(self.child)
        shutil.rmtree(self.folder, ignore_errors=True)


def _write(folder: Path, bodies: dict[str, bytes]) -> None:
    for name, data in bodies.items():
        staged = folder / f".{name}.new"
        staged.write_bytes(data)
        staged.chmod(0o644)
        staged.replace(folder / name)
