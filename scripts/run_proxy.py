"""The production-like stack of ``scripts/run-proxy``: HAPI, the gateway under gunicorn, nginx.

The same process helpers as the test suite (tests/hapi_server.py, tests/gateway_server.py,
tests/proxy_server.py) and the same throw-away PKI (tests/pki.py), kept under var/proxy-stack.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import IG_EXAMPLE_FINESS  # noqa: E402
from tests.gateway_server import GatewayServer  # noqa: E402
from tests.hapi_server import HapiServer  # noqa: E402
from tests.pki import CertificateAuthority  # noqa: E402
from tests.proxy_server import NginxProxy, ProxyTls  # noqa: E402

STACK = ROOT / "var" / "proxy-stack"
PRODUCER = "dui-local"


def main() -> None:
    for name in ("hapi", "gateway", "nginx"):
        (STACK / name).mkdir(parents=True, exist_ok=True)
    tls = STACK / "tls"
    ca = CertificateAuthority(tls, "TDDUI local dev CA")   # new each run: nothing to keep secret
    server = ca.issue_server("localhost")
    client = ca.issue_client(f"{PRODUCER}.editeur.example")
    signal.signal(signal.SIGTERM, _interrupt)   # stop the three like Ctrl-C does
    hapi = HapiServer(STACK / "hapi")
    gateway = proxy = None
    try:
        print(f"==> starting HAPI FHIR on {hapi.base_url} (loopback only; log: {hapi.log_path})", flush=True)
        hapi.start()
        gateway = GatewayServer(STACK / "gateway", hapi.base_url, [
            {"id": PRODUCER, "certificate_subjects": [client.subject_dn], "finess": [IG_EXAMPLE_FINESS]}],
            extra_env={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"})
        print(f"==> starting the gateway under gunicorn on {gateway.url} (log: {gateway.log_path})", flush=True)
        gateway.start()
        proxy = NginxProxy(STACK / "nginx", f"127.0.0.1:{gateway.port}",
                           ProxyTls(server.cert_path, server.key_path, ca.cert_path),
                           port=int(os.environ.get("PROXY_PORT", "8443")))
        print(f"==> starting nginx on {proxy.url} (logs: {proxy.workdir})", flush=True)
        proxy.start()
        print(f"""
TDDUI Gateway behind its reverse proxy, ready. Producer "{PRODUCER}" (FINESS {IG_EXAMPLE_FINESS}) has
a client certificate; without one the proxy answers 401:

  curl --cacert {ca.cert_path} --cert {client.cert_path} --key {client.key_path} \\
       https://localhost:{proxy.port}/metadata
  (POST a bundle to https://localhost:{proxy.port}/ the same way, as in the README's example)

Press Ctrl-C to stop.""", flush=True)
        while hapi.running() and gateway.process.poll() is None and proxy.process.poll() is None:
            time.sleep(1)
        print("!! a process exited; see the logs above", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("\n==> stopping", flush=True)
        for part in (proxy, gateway, hapi):
            if part is not None:
                part.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    main()
