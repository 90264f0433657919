"""The whole compose stack for real (official HAPI image, PostgreSQL, the gateway),
wherever a Docker engine answers; skipped, with the reason, where none does."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from gateway.auth import hash_api_key
from tests.conftest import IG_EXAMPLE_FINESS, as_submitted

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "compose-e2e-key"


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


pytestmark = pytest.mark.skipif(not docker_engine_answers(),
                                reason="no Docker engine on this machine: the compose stack cannot start")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, settings):
    from testcontainers.compose import DockerCompose

    workdir = tmp_path_factory.mktemp("compose")
    producers = workdir / "producers.yaml"
    producers.write_text(json.dumps({"producers": [
        {"id": "e2e", "api_key_sha256": [hash_api_key(API_KEY)], "finess": [IG_EXAMPLE_FINESS]}]}))
    env_file = workdir / "stack.env"
    env_file.write_text("\n".join([
        "POSTGRES_PASSWORD=compose-e2e-password",
        f"FHIR_PACKAGE_HOST_DIR={Path(settings.package_dir).resolve()}",
        f"GATEWAY_PRODUCERS_HOST_FILE={producers}",
        "GATEWAY_PUBLISH=18000", "HAPI_ADMIN_PORT=18080", ""]))
    compose = DockerCompose(ROOT, compose_file_name="compose.yaml", env_file=str(env_file), build=True)
    with compose:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if requests.get("http://127.0.0.1:18000/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(5)
        else:
            pytest.fail(f"the stack did not become ready:\n{compose.get_logs()}")
        yield "http://127.0.0.1:18000"


def test_ig_example_is_stored_through_the_compose_stack(stack, ig_example_bundle):
    response = requests.post(f"{stack}/", data=json.dumps(as_submitted(ig_example_bundle)), timeout=300,
                             headers={"Content-Type": "application/fhir+json", "X-API-Key": API_KEY})
    assert response.status_code in (200, 201), response.text
    kinds = sorted(entry["resource"]["resourceType"] for entry in response.json()["entry"])
    assert kinds == ["Encounter", "Organization", "Patient", "Provenance"]


def test_hapi_admin_port_answers_on_loopback(stack):
    assert requests.get("http://127.0.0.1:18080/fhir/metadata", timeout=30).status_code == 200
