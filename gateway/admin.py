"""``/admin/``: what producers sent, for the operators who answer them.

Server-rendered pages (Jinja templates in ``templates/admin/``) read from the
gateway's AuditEvents in HAPI (``gateway.audit_event``): the last
submissions, filterable by producer and HTTP status, one refused
submission's rule ids and messages, and refusals per rule over the last
7 days as an inline SVG chart. A credential of its own protects it (HTTP
Basic, checked against ``GATEWAY_ADMIN_KEY_SHA256``); with none configured
the pages do not exist (404).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import requests
from flask import Blueprint, Response, abort, render_template, request

from gateway import audit_event
from gateway.config import Settings
from gateway.outcome import operation_outcome, single

CHART_DAYS = 7
LIST_LIMIT = 100
CHART_LIMIT = 2000
STATUS_CLASSES = {"accepted": "0", "refused": "4", "failed": "8,12"}


def admin_blueprint(settings: Settings) -> Blueprint:
    admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
    hapi = settings.hapi_base_url

    @admin.before_request
    def require_admin():
        if not settings.admin_key_sha256:
            abort(404)
        credentials = request.authorization
        offered = hashlib.sha256((credentials.password or "").encode()).hexdigest() if credentials else ""
        if not any(hmac.compare_digest(offered, digest) for digest in settings.admin_key_sha256):
            document = operation_outcome([single(
                "error", "login", "Identifiants d'administration requis.", "Administrator credentials required.",
                rule="admin-auth")])
            return Response(json.dumps(document, ensure_ascii=False), status=401,
                            content_type="application/fhir+json; charset=utf-8",
                            headers={"WWW-Authenticate": 'Basic realm="tddui-admin", charset="UTF-8"'})
        return None

    @admin.get("/")
    def submissions():
        producer = request.args.get("producer", "").strip() or None
        status = request.args.get("status", "").strip()
        since = datetime.now(timezone.utc) - timedelta(days=CHART_DAYS)
        try:
            rows = audit_event.search(hapi, producer=producer, outcome=outcome_filter(status), limit=LIST_LIMIT)
            refused = audit_event.search(hapi, outcome="4,8,12", since=since, limit=CHART_LIMIT)
        except (requests.RequestException, ValueError) as exc:
            return hapi_unavailable(exc)
        if status.isdigit():
            rows = [row for row in rows if row.status == int(status)]
        return render_template("admin/submissions.html", rows=rows, producer=producer or "", status=status,
                               chart=rule_chart(refused), chart_days=CHART_DAYS, limit=LIST_LIMIT)

    @admin.get("/submissions/<audit_event_id>")
    def submission(audit_event_id: str):
        try:
            row = audit_event.read(hapi, audit_event_id)
        except (requests.RequestException, ValueError) as exc:
            return hapi_unavailable(exc)
        if row is None:
            abort(404)
        return render_template("admin/submission.html", row=row)

    return admin


def outcome_filter(status: str) -> str | None:
    """The AuditEvent outcome codes a status filter narrows the search to (exact statuses by their class)."""
    if status in STATUS_CLASSES:
        return STATUS_CLASSES[status]
    if status.isdigit():
        return audit_event.outcome_code(int(status))
    return None


def rule_chart(refused: list[audit_event.Submission]) -> list[dict]:
    """Refused submissions per rule id (a submission counts once per rule), widest bar first."""
    per_rule = Counter(rule for row in refused for rule in {issue.rule for issue in row.issues})
    widest = max(per_rule.values(), default=1)
    return [{"rule": rule, "count": count, "width": round(100 * count / widest, 1)}
            for rule, count in per_rule.most_common(20)]


def hapi_unavailable(exc: Exception) -> tuple[str, int]:
    return render_template("admin/unavailable.html", error=type(exc).__name__), 503
