"""Flask application factory: wires the stages in their one direction of flow.

request -> intake (parse and limits) -> auth -> conformance (normalise, then
the TDDUI checks) -> idempotency and audit (the request mutation) -> hapi
(forward) -> relay (answer). Every refusal on the way is a ``Rejected`` carrying its
status and issues, rendered by ``outcome`` alone.
"""
from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from gateway import audit, idempotency, intake, relay
from gateway.auth import Authenticator, ProducerRegistry, authorise
from gateway.capability import gateway_capability_statement
from gateway.config import ConfigurationError, Settings
from gateway.conformance import ConformanceEngine
from gateway.hapi import HapiClient
from gateway.intake import Rejected
from gateway.outcome import Issue, operation_outcome, preferred_language, single

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
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = ConformanceEngine.load(settings)
    capability = gateway_capability_statement(engine.packages, settings.implementation_guide, software_version())
    limits = intake.Limits(settings.max_body_bytes, settings.max_entries, settings.max_json_depth)
    authenticator = build_authenticator(settings)
    hapi = HapiClient(settings.hapi_base_url, settings.hapi_connect_timeout, settings.hapi_read_timeout,
                      retry_on_conflict=settings.idempotent_creates)

    app = Flask("tddui-gateway")
    app.config["SETTINGS"] = settings

    def prepare_for_hapi(bundle: dict, producer_id: str, submission: str) -> dict:
        """The request mutation: conditional creates, then the audit Provenance."""
        outgoing = copy.deepcopy(bundle)
        if settings.idempotent_creates:
            idempotency.make_conditional(outgoing)
        return audit.add_provenance(outgoing, producer_id, submission)

    @app.post("/")
    def submit_transaction():
        request_id = g.request_id
        producer_id, submission, issues = None, None, []
        try:
            intake.check_media_types(request.headers.get("Content-Type"), request.headers.get("Accept"))
            raw = intake.read_body(request.stream, request.content_length, limits)
            bundle = intake.parse_bundle(raw, limits)
            if authenticator:
                producer = authenticator.authenticate(request.headers, request.remote_addr)
                producer_id = producer.id
                authorise(producer, bundle)
            producer_id = producer_id or audit.ANONYMOUS
            verdict = engine.judge(bundle)
            issues = verdict.issues
            if not verdict.accepted:
                raise Rejected(422, issues)
            submission = audit.submission_id(producer_id, verdict.bundle)
            status, body, content_type = relay.relay(
                hapi.post_transaction(prepare_for_hapi(verdict.bundle, producer_id, submission)))
        except Rejected as refusal:
            audit.log_submission(request_id, producer_id, refusal.status, len(refusal.issues), submission)
            return outcome_response(refusal.status, refusal.issues)
        audit.log_submission(request_id, producer_id, status, len(issues), submission)
        return Response(body, status=status, content_type=content_type)

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
