"""Logging as one JSON object per line, each carrying the request id.

Structured fields go in ``extra={"fields": {...}}`` and become top-level keys,
so the audit line of a submission is machine-readable without parsing text.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from flask import g, has_app_context


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_app_context() else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"{datetime.fromtimestamp(record.created).isoformat(timespec='seconds')} {record.levelname} "
                f"{record.name} [{getattr(record, 'request_id', None) or '-'}] {record.getMessage()}")
        if getattr(record, "fields", None):
            line += " " + json.dumps(record.fields, ensure_ascii=False, default=str)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str, log_format: str) -> None:
    """Install one handler on the root logger (idempotent: safe to call per app)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "tddui", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.tddui = True
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
