"""Which FHIR format a request is written in and which one its answer must be.

As FHIR's http page says: the body's format is its ``Content-Type``; the
answer's is the ``_format`` parameter when given, else the ``Accept`` header
(weighed by werkzeug), else the body's own format, else JSON. The DSTU2
media types (``application/json+fhir``, ``application/xml+fhir``) are read as
their R4 names, as HAPI's server does and HAPI's client still asks. On a tie
in ``Accept`` the preferred format (the body's, else JSON) wins, as in HAPI,
whose server default breaks ties. Rendering takes
the JSON document every stage works on and writes it in the chosen format.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

if TYPE_CHECKING:
    from gateway.fhir_xml import FhirXml

JSON, XML = "json", "xml"
CONTENT_TYPES = {JSON: "application/fhir+json; charset=utf-8", XML: "application/fhir+xml; charset=utf-8"}
MEDIA_TYPES = {
    "application/fhir+json": JSON, "application/json+fhir": JSON, "application/json": JSON,
    "application/fhir+xml": XML, "application/xml+fhir": XML, "application/xml": XML, "text/xml": XML,
}
FORMAT_PARAMETER = {**MEDIA_TYPES, "json": JSON, "xml": XML}
# Offered in this order: on a tie the first wins, so the preferred format's types go first.
OFFERS = {preferred: [media for media, kind in MEDIA_TYPES.items() if kind == preferred]
          + [media for media, kind in MEDIA_TYPES.items() if kind != preferred] for preferred in (JSON, XML)}


def media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def body_format(content_type: str | None) -> str | None:
    """JSON or XML for a FHIR Content-Type, None for anything else."""
    return MEDIA_TYPES.get(media_type(content_type))


def answer_format(accept: str | None, format_parameter: str | None = None, preferred: str = JSON) -> str | None:
    """The answer's format, or None when the client accepts neither FHIR format."""
    if format_parameter:
        return FORMAT_PARAMETER.get(format_parameter.strip().lower().replace(" ", "+"))
    if not accept or not accept.strip():
        return preferred
    # Media-type parameters (``fhirVersion=4.0``, ``charset``) do not change the format;
    # werkzeug would otherwise refuse to match them.
    weighed = MIMEAccept([(media_type(value), quality)
                          for value, quality in parse_accept_header(accept, MIMEAccept)])
    best = weighed.best_match(OFFERS[preferred])
    return MEDIA_TYPES[best] if best else None


def render(document: dict, answer: str, xml: "FhirXml") -> tuple[bytes, str]:
    """The document's bytes in the answer format, with its Content-Type."""
    if answer == XML:
        text = '<?xml version="1.0" encoding="UTF-8"?>' + xml.to_xml(document)
    else:
        text = json.dumps(document, ensure_ascii=False)
    return text.encode("utf-8"), CONTENT_TYPES[answer]
