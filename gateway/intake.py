"""Stage 1: parse the request into a Bundle, within limits.

Media types and the content coding are checked from the headers (415, 406;
FHIR JSON or XML, see ``formats``; identity, gzip or deflate), the body size
before it is read in full and, for a compressed body, its decompressed size
while it is being decompressed (413), then the JSON (400: strict JSON in UTF-8, as FHIR
requires: no NaN, no infinite number, no unpaired surrogate escape), its
nesting depth (400) and the number of entries (413). Anything that is not a FHIR Bundle is refused with
400. Every refusal is a ``Rejected`` carrying its status and issues.
"""
from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass

from gateway.formats import answer_format, body_format
from gateway.outcome import Issue, single

# A \uD800-\uDFFF escape: paired, it is one character; alone, a string that
# cannot be written as UTF-8 (so neither echoed in an OperationOutcome nor sent to HAPI).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Content codings undone on the way in, as zlib window bits: gzip (RFC 1952; x-gzip is its
# old alias, RFC 9110 8.4.1.3) and deflate, which HTTP defines as the zlib format (RFC 1950).
DECOMPRESSION_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
COMPRESSED_READ_BYTES = 64 * 1024


class Rejected(Exception):
    """A request refused by a stage: HTTP status plus the issues to report."""

    def __init__(self, status: int, issues: list[Issue]):
        super().__init__(f"{status}: {[issue.message.en for issue in issues]}")
        self.status = status
        self.issues = issues


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may cost the gateway."""

    max_body_bytes: int = 80 * 1024 * 1024
    max_entries: int = 20_000
    max_depth: int = 64

    @classmethod
    def of(cls, settings) -> "Limits":
        """The limits a ``gateway.config.Settings`` sets (the server and the CLI apply the same)."""
        return cls(settings.max_body_bytes, settings.max_entries, settings.max_json_depth)


def check_media_types(content_type: str | None, accept: str | None, content_encoding: str | None = None,
                      format_parameter: str | None = None) -> None:
    """415 for a body that is not FHIR JSON or XML, or in a coding other than gzip or deflate;
    406 when neither FHIR format is acceptable (``_format`` overriding ``Accept``)."""
    if body_format(content_type) is None:
        raise Rejected(415, [single(
            "error", "not-supported",
            f"Type de contenu non pris en charge ({content_type or 'absent'}) : "
            "envoyez application/fhir+json ou application/fhir+xml.",
            f"Unsupported content type ({content_type or 'missing'}): "
            "send application/fhir+json or application/fhir+xml.",
            rule="gateway-content-type")])
    content_coding(content_encoding)
    check_acceptable(accept, format_parameter)


def content_coding(content_encoding: str | None) -> str | None:
    """The one compression to undo (None for an uncompressed body); 415 for any other coding."""
    codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in DECOMPRESSION_WBITS:
        return codings[0]
    raise Rejected(415, [single(
        "error", "not-supported",
        f"Codage de contenu non pris en charge ({content_encoding}) : envoyez le corps tel quel, "
        "ou compressé en gzip ou deflate.",
        f"Unsupported content encoding ({content_encoding}): send the body as it is, "
        "or compressed with gzip or deflate.",
        rule="gateway-content-encoding")])


def check_acceptable(accept: str | None, format_parameter: str | None = None) -> None:
    """406 when the ``_format`` parameter or the Accept header rules out both FHIR formats."""
    if answer_format(accept, format_parameter) is None:
        asked = f"_format={format_parameter}" if format_parameter else f"Accept : {accept}"
        asked_en = f"_format={format_parameter}" if format_parameter else f"Accept: {accept}"
        raise Rejected(406, [single(
            "error", "not-supported",
            f"La réponse ne peut être produite qu'en application/fhir+json ou application/fhir+xml ({asked}).",
            f"The answer can only be application/fhir+json or application/fhir+xml ({asked_en}).",
            rule="gateway-accept")])


# How to send an export too large for one request: the receipt is an upsert, so parts can be sent
# one after the other, and a part sent twice stores nothing twice.
SPLIT_FR = ("Découpez l'export en plusieurs Bundles plus petits, envoyés l'un après l'autre, chacun avec la "
            "structure (Organization) et, pour chaque usager, son Patient et ses séjours : un Bundle renvoyé "
            "ne crée aucun doublon.")
SPLIT_EN = ("Split the export into several smaller Bundles sent one after the other, each with the legal entity "
            "(Organization) and, for each patient, the Patient and its stays: a Bundle sent again creates no "
            "duplicate.")


def read_body(stream, declared_length: int | None, limits: Limits, content_encoding: str | None = None) -> bytes:
    """Read at most ``max_body_bytes``: a larger declared or actual body is 413.

    A compressed body is decompressed as it is read, never past the limit: a
    compression bomb is refused once its output passes ``max_body_bytes``,
    before it is expanded any further.
    """
    if declared_length is not None and declared_length > limits.max_body_bytes:
        raise _too_large(declared_length, limits)
    coding = content_coding(content_encoding)
    if coding is not None:
        return _decompressed(stream, coding, limits)
    body = stream.read(limits.max_body_bytes + 1)
    if len(body) > limits.max_body_bytes:
        raise _too_large(None, limits)
    return body


def _decompressed(stream, coding: str, limits: Limits) -> bytes:
    decompressor = zlib.decompressobj(DECOMPRESSION_WBITS[coding])
    parts, received, produced = [], 0, 0
    while chunk := stream.read(COMPRESSED_READ_BYTES):
        received += len(chunk)
        if received > limits.max_body_bytes:
            raise _too_large(None, limits)
        try:
            # At most one byte past the limit: enough to know it is passed, and no more is expanded.
            part = decompressor.decompress(chunk, limits.max_body_bytes - produced + 1)
        except zlib.error as exc:
            raise _bad_compression(coding, str(exc)) from None
        produced += len(part)
        if produced > limits.max_body_bytes:
            raise _too_large(None, limits, decompressed=True)
        parts.append(part)
    if not decompressor.eof:
        raise _bad_compression(coding, "flux tronqué", "truncated stream")
    if decompressor.unused_data:
        raise _bad_compression(coding, "données après la fin du flux", "data after the end of the stream")
    return b"".join(parts)


def _bad_compression(coding: str, reason_fr: str, reason_en: str | None = None) -> Rejected:
    return Rejected(400, [single(
        "error", "structure",
        f"Le corps de la requête n'est pas un flux {coding} valide : {reason_fr}.",
        f"The request body is not a valid {coding} stream: {reason_en or reason_fr}.",
        rule="gateway-content-encoding-corrupt")])


def _too_large(size: int | None, limits: Limits, decompressed: bool = False) -> Rejected:
    told = f" ({size} octets)" if size is not None else ""
    told_en = f" ({size} bytes)" if size is not None else ""
    once = " une fois décompressé" if decompressed else ""
    once_en = " once decompressed" if decompressed else ""
    return Rejected(413, [single(
        "error", "too-long",
        f"Le corps de la requête{once} dépasse la limite de {limits.max_body_bytes} octets{told}. {SPLIT_FR}",
        f"The request body{once_en} exceeds the limit of {limits.max_body_bytes} bytes{told_en}. {SPLIT_EN}",
        rule="gateway-body-size")])


def parse_bundle(raw: bytes, limits: Limits = Limits()) -> dict:
    """Decode a JSON FHIR Bundle within ``limits`` or raise ``Rejected``."""
    return check_bundle(parse_resource(raw, limits), limits)


def parse_resource(raw: bytes, limits: Limits = Limits()) -> dict:
    """Decode a JSON FHIR resource (any type) within ``limits`` or raise ``Rejected``."""
    try:
        text = raw.decode("utf-8-sig")
        document = json.loads(text, parse_float=_finite_number, parse_constant=_not_a_json_constant)
    except RecursionError:
        raise _too_deep(limits) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise _not_json(str(exc), str(exc)) from None
    if nesting_depth(document, limits.max_depth) > limits.max_depth:
        raise _too_deep(limits)
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _not_json("une chaîne contient un échappement \\uD800-\\uDFFF non apparié",
                            "a string holds an unpaired \\uD800-\\uDFFF escape") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise Rejected(400, [single(
            "error", "structure",
            "Le corps de la requête n'est pas une ressource FHIR (resourceType absent).",
            "The request body is not a FHIR resource (no resourceType).",
            rule="gateway-fhir-resource")])
    return document


def check_bundle(document: dict, limits: Limits = Limits()) -> dict:
    """400 unless the resource is a Bundle, 413 above the entry limit; JSON and XML bodies alike."""
    if document["resourceType"] != "Bundle":
        raise Rejected(400, [single(
            "error", "structure",
            f"Une ressource Bundle de type transaction est attendue, pas {document['resourceType']}.",
            f"A transaction Bundle is expected, not {document['resourceType']}.",
            rule="gateway-bundle", expression=document["resourceType"])])
    entries = document.get("entry")
    if isinstance(entries, list) and len(entries) > limits.max_entries:
        raise Rejected(413, [single(
            "error", "too-long",
            f"Le Bundle compte {len(entries)} entrées ; la limite est {limits.max_entries}. {SPLIT_FR}",
            f"The Bundle has {len(entries)} entries; the limit is {limits.max_entries}. {SPLIT_EN}",
            rule="gateway-entry-count", expression="Bundle.entry")])
    return document


def _finite_number(text: str) -> float:
    """JSON has no infinity: a number too large for a float would be forwarded as ``Infinity``."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


def _not_a_json_constant(name: str):
    """Python's json reads NaN and Infinity, which JSON (and HAPI) do not."""
    raise ValueError(f"{name} is not JSON")


def _not_json(reason_fr: str, reason_en: str) -> Rejected:
    return Rejected(400, [single(
        "error", "structure",
        f"Le corps de la requête n'est pas un JSON valide : {reason_fr}",
        f"The request body is not valid JSON: {reason_en}",
        rule="gateway-json")])


def nesting_depth(document, give_up_above: int) -> int:
    """Depth of nested objects and arrays, without recursion; stops once above the bound."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > deepest:
            deepest = depth
            if deepest > give_up_above:
                return deepest
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _too_deep(limits: Limits) -> Rejected:
    return Rejected(400, [single(
        "error", "structure",
        f"Le JSON est imbriqué sur plus de {limits.max_depth} niveaux.",
        f"The JSON is nested more than {limits.max_depth} levels deep.",
        rule="gateway-json-depth")])
