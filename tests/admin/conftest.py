"""The admin blueprint on its own Flask app, over the session's real HAPI."""
from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import replace

import pytest
from flask import Flask

from gateway.admin import admin_blueprint

ADMIN_PASSWORD = "admin-password-for-the-tests"
# Writing the test's own AuditEvents: HAPI's first validation of an AuditEvent is slow on a busy machine,
# far beyond the refusal writer's production timeout (which its own tests check).
SETUP_TIMEOUT = (5.0, 180.0)


@pytest.fixture(scope="session")
def admin_settings(settings, hapi):
    return replace(settings, hapi_base_url=hapi.base_url,
                   admin_key_sha256=(hashlib.sha256(ADMIN_PASSWORD.encode()).hexdigest(),))


@pytest.fixture(scope="session")
def admin_app(admin_settings) -> Flask:
    app = Flask("admin-under-test")
    app.register_blueprint(admin_blueprint(admin_settings))
    return app


@pytest.fixture()
def admin(admin_app, running_hapi):
    client = admin_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = basic_auth("operator", ADMIN_PASSWORD)
    return client


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture()
def producer() -> str:
    """A producer id no other test uses, so its AuditEvents are this test's alone."""
    return f"dui-{uuid.uuid4().hex[:10]}"
