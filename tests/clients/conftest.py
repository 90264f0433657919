"""Real FHIR client libraries against the gateway under gunicorn, in front of the session's HAPI.

Each client runs the same producer's session (see ``producer_session.py``) and reports what it made of
each answer; one set of checks judges every report.
"""
from __future__ import annotations

import json

import pytest

from gateway.auth import hash_api_key
from tests.cases import CASES, load_examples
from tests.clients.producer_session import ProducerSession
from tests.conftest import FRESH_FINESS, IG_EXAMPLE_FINESS, TEST_API_KEY
from tests.gateway_server import GatewayServer

# A refusal the gateway itself gives, on a bundle every client's parser takes as well formed.
REFUSED_CASE = next(case for case in CASES if case.id == "I08")


@pytest.fixture(scope="session")
def client_gateway(tmp_path_factory, hapi) -> GatewayServer:
    """The gateway as producers reach it: a real HTTP server, API keys required."""
    producers = [{"id": "client-library-dui", "api_key_sha256": [hash_api_key(TEST_API_KEY)],
                  "finess": [IG_EXAMPLE_FINESS, *FRESH_FINESS]}]
    server = GatewayServer(tmp_path_factory.mktemp("client-gateway"), hapi.base_url, producers, workers=1)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def producer_session(client_gateway, running_hapi, fresh_bundle, tmp_path) -> ProducerSession:
    """The session's two bundles, also written as FHIR JSON files for the clients run as programs."""
    refused = json.loads(REFUSED_CASE.body(load_examples()))
    return ProducerSession.write(tmp_path, client_gateway.url, TEST_API_KEY, fresh_bundle, refused, REFUSED_CASE)
