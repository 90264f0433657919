"""A real nginx in front of the gateway, configured by the one template in ``docker/``.

The template is rendered as the official nginx image's entrypoint does
(envsubst, only the variables given) and included in a small main
configuration standing in for the image's ``/etc/nginx/nginx.conf``, with
paths a non-root user can write: pid, temporary files and logs all live in
the proxy's own directory. nginx runs in the foreground as its own process
group; the master reads the keys and certificates before anything else.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.hapi_server import ROOT, free_port, stop_process_group

TEMPLATE = ROOT / "docker" / "proxy.conf.template"
# The variables the template expects and the values compose gives them by default.
DEFAULTS = {
    "PROXY_SSL_VERIFY_CLIENT": "on",
    "PROXY_CONNECTIONS_PER_CLIENT": "20",
    "PROXY_REQUESTS_PER_SECOND": "10",
    "PROXY_REQUEST_BURST": "40",
    "PROXY_UPSTREAM_TIMEOUT": "180",
    "GATEWAY_MAX_BODY_BYTES": "83886080",
    "GATEWAY_CLIENT_CERT_HEADER": "X-SSL-Client-S-DN",
}
TEMPORARY_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def template_variables(text: str) -> set[str]:
    """The ${NAME} variables of a template (nginx's own variables are lower-case $name)."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text))


def render(text: str, values: dict[str, str]) -> str:
    """envsubst restricted to ``values``: every ${NAME} given is replaced, nothing else is touched."""
    missing = template_variables(text) - set(values)
    if missing:
        raise KeyError(f"the proxy template needs {sorted(missing)}")
    return re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda match: values[match.group(1)], text)


@dataclass
class ProxyTls:
    server_cert: Path
    server_key: Path
    client_ca: Path


class NginxProxy:
    """One nginx process serving the rendered template on free ports."""

    def __init__(self, workdir: Path, upstream: str, tls: ProxyTls, port: int | None = None, **overrides: str):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.health_port = free_port()
        self.url = f"https://localhost:{self.port}/"
        self.error_log = self.workdir / "error.log"
        self.access_log = self.workdir / "access.log"
        self.values = {**DEFAULTS, **overrides,
                       "PROXY_PORT": str(self.port), "PROXY_HEALTH_PORT": str(self.health_port),
                       "PROXY_TLS_CERT": str(tls.server_cert), "PROXY_TLS_KEY": str(tls.server_key),
                       "PROXY_CLIENT_CA": str(tls.client_ca), "PROXY_ACCESS_LOG": str(self.access_log),
                       "GATEWAY_UPSTREAM": upstream}
        self.process: subprocess.Popen | None = None

    def write_configuration(self) -> Path:
        for name in TEMPORARY_PATHS:
            (self.workdir / "temp" / name).mkdir(parents=True, exist_ok=True)
        (self.workdir / "tddui-proxy.conf").write_text(render(TEMPLATE.read_text(), self.values))
        temp = "\n".join(f"    {name}_temp_path {self.workdir / 'temp' / name};" for name in TEMPORARY_PATHS)
        # Run as root (as in CI containers), the workers would drop to "nobody" and could not
        # write the temporary files of a root-only directory: keep them as the caller.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        main = self.workdir / "nginx.conf"
        main.write_text(f"""# Stands in for the official image's /etc/nginx/nginx.conf.
{user}worker_processes 1;
daemon off;
pid {self.workdir / 'nginx.pid'};
error_log {self.error_log} notice;
events {{
    worker_connections 1024;
}}
http {{
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
{temp}
    include {self.workdir / 'tddui-proxy.conf'};
}}
""")
        return main

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        main = self.write_configuration()
        command = [binary, "-p", str(self.workdir), "-e", str(self.error_log), "-c", str(main)]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx refused the rendered configuration:\n{checked.stderr}")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.error_log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx not listening after 30 s:\n{self.error_log_tail()}")

    def stop(self) -> None:
        stop_process_group(self.process, grace_seconds=10)
        self.process = None

    def error_log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
