"""Flask application factory: builds the stages once and maps the routes.

``POST /`` runs ``gateway.submission.SubmissionPipeline``, ``POST /$validate``
``gateway.validation``, the reads ``gateway.reads``; every refusal on the way
is a ``Rejected`` carrying its status and issues, rendered here by
``outcome`` alone, in the FHIR format ``gateway.formats`` negotiates. The
other routes are public: /metadata, /openapi.json, /healthz, /readyz, /metrics.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import re
import uuid
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from gateway import intake, metrics
from gateway.addresses import ForwardedByTrustedProxies, InternalAddress, TrustedProxies, public_base
from gateway.admin import admin_blueprint
from gateway.auth import Authenticator, ProducerRegistry
from gateway.capability import gateway_capability_statement, readable_types
from gateway.config import ConfigurationError, Settings
from gateway.conformance import ConformanceEngine
from gateway.fhir_xml import FhirXml
from gateway.formats import JSON, answer_format, body_format, render
from gateway.hapi import HapiClient
from gateway.intake import Limits, Rejected
from gateway.logs import configure_logging
from gateway.openapi import openapi_document
from gateway.outcome import Issue, operation_outcome, preferred_language, single, verdict_outcome
from gateway.reads import Reader
from gateway.submission import Incoming, Reception, SubmissionPipeline
from gateway.validation import Validation

NOT_FHIR_ROUTES = ("/metrics", "/healthz", "/readyz", "/openapi.json")  # probes: never 406
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = logging.getLogger("tddui.gateway")


def software_version() -> str:
    try:
        return version("tddui-gateway")
    except PackageNotFoundError:
        return "0+unknown"


def build_authenticator(settings: Settings, trusted_proxies: TrustedProxies) -> Authenticator | None:
    """None only when authentication is switched off, which is logged loudly."""
    if not settings.auth_required:
        log.warning("GATEWAY_AUTH=off: every request is trusted; never run this way in production")
        return None
    registry = ProducerRegistry.from_source(settings.producers_file, settings.producers_json)
    if not registry.by_key_hash and not registry.by_subject:
        raise ConfigurationError(
            "GATEWAY_AUTH=required but no producer is configured: set GATEWAY_PRODUCERS_FILE "
            "or GATEWAY_PRODUCERS (or GATEWAY_AUTH=off for local development)")
    return Authenticator(registry, settings.api_key_header, settings.certificate_header, trusted_proxies)


def release_start_up_memory() -> None:
    """Hand back to the system what start-up parsed and dropped (the packages' JSON, ~50 MB):
    gunicorn forks every worker from the process that built the app, and a worker starts
    with all of that process's resident memory. ``malloc_trim`` is glibc's; elsewhere, nothing."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    malloc_trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if malloc_trim is not None:
        malloc_trim(0)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway; loads the FHIR packages once, at start-up."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    engine = ConformanceEngine.load(settings)
    descriptor = engine.descriptor
    xml = FhirXml.from_package(settings.r4_core_package_path)
    capability = gateway_capability_statement(engine.packages, settings, software_version())
    openapi = openapi_document(capability, settings.api_key_header if settings.auth_required else None,
                               descriptor.success)
    hapi = HapiClient(settings.hapi_base_url, settings.hapi_connect_timeout, settings.hapi_read_timeout)
    trusted_proxies = TrustedProxies(settings.trusted_proxies)
    authenticator = build_authenticator(settings, trusted_proxies)
    internal_address = InternalAddress(settings.hapi_base_url)
    reception = Reception(Limits.of(settings), authenticator, xml)
    pipeline = SubmissionPipeline(reception, engine, descriptor, hapi, settings.receipt)
    validation = Validation(reception, engine, descriptor)
    reader = Reader(hapi, readable_types(capability), descriptor.legal_entity)

    app = Flask("tddui-gateway")
    app.wsgi_app = ForwardedByTrustedProxies(app.wsgi_app, trusted_proxies)
    app.register_blueprint(admin_blueprint(settings))

    def negotiated() -> str:
        """The answer's format; JSON when nothing acceptable was asked (the 406 itself)."""
        return answer_format(request.headers.get("Accept"), request.args.get("_format"),
                             body_format(request.content_type) or JSON) or JSON

    def fhir_response(status: int, document: dict) -> Response:
        body, content_type = render(document, negotiated(), xml)
        return Response(body, status=status, content_type=content_type)

    def outcome_response(status: int, issues: list[Issue]) -> Response:
        language = preferred_language(request.headers.get("Accept-Language"))
        return fhir_response(status, operation_outcome(issues, language))

    def incoming() -> Incoming:
        return Incoming(request.headers, request.remote_addr, request.stream, request.content_length,
                        g.request_id, request.args.get("_format"))

    @app.post("/")
    def submit_transaction():
        try:
            answer = pipeline.submit(incoming())
        except Rejected as refusal:
            return outcome_response(refusal.status, refusal.issues)
        response = fhir_response(answer.status, answer.document)
        if answer.preference_applied:
            response.headers["Preference-Applied"] = f"return={answer.preference_applied}"
        return response

    @app.post("/$validate")
    @app.post("/Bundle/$validate")
    def validate():
        try:
            issues = validation.validate(incoming())
        except Rejected as refusal:
            return outcome_response(refusal.status, refusal.issues)
        return fhir_response(200, verdict_outcome(issues, preferred_language(request.headers.get("Accept-Language"))))

    @app.get("/<resource_type>/<resource_id>")
    @app.get("/<resource_type>/<resource_id>/_history/<version_id>")
    def read(resource_type: str, resource_id: str, version_id: str | None = None):
        try:
            producer = authenticator.authenticate(request.headers, request.remote_addr) if authenticator else None
            result = reader.read(producer, resource_type, resource_id, version_id,
                                 request.headers.get("If-None-Match"))
        except Rejected as refusal:
            return outcome_response(refusal.status, refusal.issues)
        response = Response(status=304) if result.not_modified else fhir_response(200, result.resource)
        response.set_etag(result.version_id, weak=True)
        response.last_modified = result.last_updated
        return response

    @app.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.get("/metadata")
    def metadata():
        return fhir_response(200, capability)

    @app.get("/openapi.json")
    def openapi_json():
        return openapi

    @app.get("/healthz")
    def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    def readyz():
        ready, detail = hapi.readiness(descriptor.package, engine.bundle_profile)
        if ready:
            return {"status": "ready", "detail": detail}
        return outcome_response(503, [single(
            "error", "transient", f"Passerelle non prête : {detail}", f"Gateway not ready: {detail}",
            rule="gateway-not-ready")])

    @app.before_request
    def assign_request_id():
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if REQUEST_ID_PATTERN.fullmatch(offered) else str(uuid.uuid4())

    @app.before_request
    def refuse_unacceptable_format():
        """406 up front for reads; a POST's Accept and ``_format`` are checked by its intake, after its Content-Type."""
        if request.path in NOT_FHIR_ROUTES or request.method == "POST":
            return None
        try:
            intake.check_acceptable(request.headers.get("Accept"), request.args.get("_format"))
        except Rejected as refusal:
            return outcome_response(refusal.status, refusal.issues)
        return None

    @app.after_request
    def return_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.after_request
    def hide_internal_address(response: Response) -> Response:
        """HAPI's base becomes the public one in every producer-facing body and header (the operators' pages keep it)."""
        if request.blueprint == "admin":
            return response
        public = public_base(settings.public_base_url, request.host_url, request.host)
        if not response.direct_passthrough:
            response.set_data(internal_address.hide_bytes(response.get_data(), public))
        for name, value in list(response.headers.items()):
            hidden = internal_address.hide(value, public)
            if hidden != value:
                response.headers[name] = hidden
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

    release_start_up_memory()
    return app
