"""Flask application factory: builds the stages once and maps the routes.

``POST /`` runs ``gateway.submission.SubmissionPipeline``; every refusal on
the way is a ``Rejected`` carrying its status and issues, rendered here by
``outcome`` alone. The other routes are public: /metadata, /healthz, /readyz,
/metrics.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from gateway import metrics
from gateway.admin import admin_blueprint
from gateway.auth import Authenticator, ProducerRegistry
from gateway.capability import gateway_capability_statement
from gateway.config import ConfigurationError, Settings
from gateway.conformance import ConformanceEngine
from gateway.hapi import HapiClient
from gateway.intake import Limits, Rejected
from gateway.logs import configure_logging
from gateway.outcome import Issue, operation_outcome, preferred_language, single
from gateway.submission import Incoming, SubmissionPipeline

FHIR_JSON = "application/fhir+json; charset=utf-8"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = logging.getLogger("tddui.gateway")


def software_version() -> str:
    try:
        return version("tddui-gateway")
    except PackageNotFoundError:
        return "0+unknown"


def fhir_response(status: int, document: dict) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), status=status, content_type=FHIR_JSON)


def outcome_response(status: int, issues: list[Issue]) -> Response:
    language = preferred_language(request.headers.get("Accept-Language"))
    return fhir_response(status, operation_outcome(issues, language))


def build_authenticator(settings: Settings) -> Authenticator | None:
    """None only when authentication is switched off, which is logged loudly."""
    if not settings.auth_required:
        log.warning("GATEWAY_AUTH=off: every request is trusted; never run this way in production")
        return None
    registry = ProducerRegistry.from_source(settings.producers_file, settings.producers_json)
    if not registry.by_key_hash and not registry.by_subject:
        raise ConfigurationError(
            "GATEWAY_AUTH=required but no producer is configured: set GATEWAY_PRODUCERS_FILE "
            "or GATEWAY_PRODUCERS (or GATEWAY_AUTH=off for local development)")
    return Authenticator(registry, settings.api_key_header, settings.certificate_header,
                         list(settings.trusted_proxies))


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway; loads the FHIR packages once, at start-up."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    engine = ConformanceEngine.load(settings)
    capability = gateway_capability_statement(engine.packages, settings.implementation_guide, software_version())
    hapi = HapiClient(settings.hapi_base_url, settings.hapi_connect_timeout, settings.hapi_read_timeout,
                      retry_on_conflict=settings.idempotent_creates)
    pipeline = SubmissionPipeline(
        Limits(settings.max_body_bytes, settings.max_entries, settings.max_json_depth),
        build_authenticator(settings), engine, hapi, settings.idempotent_creates)

    app = Flask("tddui-gateway")
    app.register_blueprint(admin_blueprint(settings))

    @app.post("/")
    def submit_transaction():
        incoming = Incoming(request.headers, request.remote_addr, request.stream, request.content_length,
                            g.request_id)
        try:
            answer = pipeline.submit(incoming)
        except Rejected as refusal:
            return outcome_response(refusal.status, refusal.issues)
        return Response(answer.body, status=answer.status, content_type=answer.content_type)

    @app.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.get("/metadata")
    def metadata():
        return fhir_response(200, capability)

    @app.get("/healthz")
    def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    def readyz():
        ready, detail = hapi.readiness()
        if ready:
            return {"status": "ready", "detail": detail}
        return outcome_response(503, [single(
            "error", "transient", f"Passerelle non prête : {detail}", f"Gateway not ready: {detail}",
            rule="gateway-not-ready")])

    @app.before_request
    def assign_request_id():
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if REQUEST_ID_PATTERN.fullmatch(offered) else str(uuid.uuid4())

    @app.after_request
    def return_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return outcome_response(error.code or 400, [single(
            "error", "not-supported" if error.code == 405 else "not-found" if error.code == 404 else "processing",
            f"{error.code} {error.name}", f"{error.code} {error.name}", rule=f"http-{error.code}")])

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unexpected error while handling %s %s", request.method, request.path)
        return outcome_response(500, [single(
            "error", "exception",
            "Erreur interne de la passerelle ; la requête n'a pas été transmise.",
            "Internal gateway error; the request was not forwarded.",
            rule="gateway-internal")])

    return app
