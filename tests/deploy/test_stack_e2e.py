"""The whole compose stack for real (the official nginx and HAPI images, PostgreSQL, the
gateway), wherever a Docker engine answers; skipped, with the reason, where none does.
Producers reach it through the proxy only, with a client certificate of a CA made here."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import IG_EXAMPLE_FINESS, as_submitted
from tests.pki import CertificateAuthority

ROOT = Path(__file__).resolve().parents[2]
PROXY_URL = "https://localhost:18443"


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


pytestmark = pytest.mark.skipif(not docker_engine_answers(),
                                reason="no Docker engine on this machine: the compose stack cannot start")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, settings):
    from testcontainers.compose import DockerCompose

    workdir = tmp_path_factory.mktemp("compose")
    tls = workdir / "tls"
    ca = CertificateAuthority(tls / "ca", "Compose e2e CA")
    server = ca.issue_server("localhost")
    client = ca.issue_client("e2e.editeur.example")
    tls.joinpath("server.crt").write_bytes(server.cert_path.read_bytes())
    tls.joinpath("server.key").write_bytes(server.key_path.read_bytes())
    tls.joinpath("client-ca.pem").write_bytes(ca.cert_path.read_bytes())
    for path in tls.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)   # read by the image's nginx master (root)
    tls.chmod(0o755)
    producers = workdir / "producers.yaml"
    producers.write_text(json.dumps({"producers": [
        {"id": "e2e", "certificate_subjects": [client.subject_dn], "finess": [IG_EXAMPLE_FINESS]}]}))
    env_file = workdir / "stack.env"
    env_file.write_text("\n".join([
        "POSTGRES_PASSWORD=compose-e2e-password",
        f"FHIR_PACKAGE_HOST_DIR={Path(settings.package_dir).resolve()}",
        f"GATEWAY_PRODUCERS_HOST_FILE={producers}", f"PROXY_TLS_HOST_DIR={tls}",
        "PROXY_PUBLISH=18443", "HAPI_ADMIN_PORT=18080", ""]))
    session = requests.Session()
    session.verify = str(ca.cert_path)
    session.cert = (str(client.cert_path), str(client.key_path))
    compose = DockerCompose(ROOT, compose_file_name="compose.yaml", env_file=str(env_file), build=True)
    with compose:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if session.get(f"{PROXY_URL}/metadata", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(5)
        else:
            pytest.fail(f"the stack did not become ready:\n{compose.get_logs()}")
        yield session


def test_ig_example_is_stored_through_the_compose_stack(stack, ig_example_bundle):
    response = stack.post(f"{PROXY_URL}/", data=json.dumps(as_submitted(ig_example_bundle)), timeout=300,
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code in (200, 201), response.text
    kinds = sorted(entry["resource"]["resourceType"] for entry in response.json()["entry"])
    assert kinds == ["Encounter", "Organization", "Patient", "Provenance"]


def test_the_proxy_requires_a_client_certificate(stack):
    answer = requests.get(f"{PROXY_URL}/metadata", verify=stack.verify, timeout=30)
    assert answer.status_code == 401 and answer.headers["Content-Type"] == "application/fhir+json"


def test_hapi_admin_port_answers_on_loopback(stack):
    assert requests.get("http://127.0.0.1:18080/fhir/metadata", timeout=30).status_code == 200
