"""Hypothesis strategies of requests to the gateway, each a ``FuzzRequest``.

Bodies start from the IG example and the TDDUI case bundles (tests/cases.py)
and are then truncated, given wrong types, huge strings, deep nesting, too
many entries, byte mutations or invalid Unicode; headers vary on their own.
"""
from __future__ import annotations

import copy
import gzip
import json
import sys
import zlib
from functools import lru_cache

from hypothesis import strategies as st

from gateway.config import Settings
from gateway.fhir_xml import FhirXml
from tests.cases import CASES, ig_example_bundle, load_examples, package_dir
from tests.conftest import TEST_API_KEY
from tests.fuzz.harness import MAX_BODY_BYTES, MAX_ENTRIES, MAX_JSON_DEPTH, Expectation, FuzzRequest

FHIR_JSON = "application/fhir+json"
GOOD_HEADERS = {"Content-Type": FHIR_JSON, "X-API-Key": TEST_API_KEY}
RAW_VALUE_MARK = "__fuzz_raw_value__"
REFUSED_AS_NOT_JSON = Expectation("400 gateway-json", lambda status, rules: status == 400 and rules == ["gateway-json"])
FHIR_NAMES = ("resourceType", "id", "meta", "profile", "entry", "resource", "request", "method", "url",
              "fullUrl", "type", "identifier", "system", "value", "reference", "subject", "serviceProvider",
              "extension", "valueCoding", "code", "name", "family", "birthDate", "_birthDate", "period",
              "start", "end", "status", "class", "gender")
# Header values: printable Latin-1, what a WSGI server hands over; tokens: plain letters and digits.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=40)
token_text = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x7F), max_size=12)


# ---------------------------------------------------------------- the documents fuzzed
@lru_cache(maxsize=1)
def case_documents() -> dict[str, dict]:
    """Every JSON body of the TDDUI case table, by case id, plus the IG example as published."""
    examples = load_examples()
    documents = {"IG-example": ig_example_bundle()}
    for case in CASES:
        built = case.build(examples)
        if isinstance(built, dict):
            documents[case.id] = built
    return documents


@lru_cache(maxsize=1)
def accepted_documents() -> dict[str, dict]:
    """The case bundles the gateway accepts (and would forward to HAPI)."""
    return {case.id: case_documents()[case.id] for case in CASES if case.accepted}


def serialised(document) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def case_names() -> st.SearchStrategy[str]:
    return st.deferred(lambda: st.sampled_from(sorted(case_documents())))


def fresh_document(name: str) -> dict:
    return copy.deepcopy(case_documents()[name])


# ---------------------------------------------------------------- paths inside a document
def paths_in(node, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) to a value of the document, the root included."""
    paths = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            paths += paths_in(child, prefix + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += paths_in(child, prefix + (index,))
    return paths


def string_paths_in(document) -> list[tuple]:
    return [path for path in paths_in(document) if isinstance(value_at(document, path), str)]


def value_at(document, path: tuple):
    for step in path:
        document = document[step]
    return document


def replaced(document, path: tuple, value):
    """The document with the value at ``path`` replaced (in place; the root returns the new value)."""
    if not path:
        return value
    value_at(document, path[:-1])[path[-1]] = value
    return document


def with_raw_value(document, path: tuple, raw: bytes) -> bytes:
    """Serialise the document with the JSON text ``raw`` spliced in at ``path``.

    For values ``json.dumps`` cannot write: numbers beyond Python's digit
    limit, nesting deeper than its recursion limit, unclosed brackets.
    """
    marked = serialised(replaced(document, path, RAW_VALUE_MARK))
    return marked.replace(f'"{RAW_VALUE_MARK}"'.encode(), raw, 1)


# ---------------------------------------------------------------- JSON values of the wrong type
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=20) | st.sampled_from(FHIR_NAMES))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FHIR_NAMES) | st.text(max_size=8), children, max_size=4),
    max_leaves=10)


@st.composite
def wrong_values(draw) -> FuzzRequest:
    """A case bundle where 1 to 4 values are replaced, removed or joined by strangers."""
    document = fresh_document(draw(case_names()))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths_in(document)))
        action = draw(st.sampled_from(["replace", "remove", "add member"]))
        target = value_at(document, path)
        if action == "replace" or not path:
            document = replaced(document, path, draw(json_values))
        elif action == "remove":
            del value_at(document, path[:-1])[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(FHIR_NAMES) | st.text(max_size=8))] = draw(json_values)
        elif isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(json_values))
    return FuzzRequest(serialised(document), GOOD_HEADERS)


# ---------------------------------------------------------------- entries with parts missing or null
# Parts of an entry without which it cannot be stored: missing, null, empty or of the wrong shape,
# the bundle is refused before HAPI (a 4xx of the gateway's own, never the 503 of the closed port).
ENTRY_PARTS = (("resource",), ("request",), ("request", "method"), ("request", "url"), ("resource", "resourceType"))
BROKEN_PART = st.sampled_from(["missing", None, {}, [], "", [None]])
REFUSED_BEFORE_HAPI = Expectation(
    "a 4xx of the gateway's own", lambda status, rules: 400 <= status < 500 and "gateway-hapi-unreachable" not in rules)


@st.composite
def broken_entries(draw) -> FuzzRequest:
    """An accepted bundle in which 1 to 3 entries lose a part they need, or are null or empty themselves."""
    document = copy.deepcopy(accepted_documents()[draw(st.sampled_from(sorted(accepted_documents())))])
    entries = document["entry"]
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(entries) - 1))
        if not isinstance(entries[position], dict) or draw(st.integers(0, 5)) == 0:
            entries[position] = draw(st.sampled_from([None, {}, [], "entry"]))
            continue
        *parents, part = draw(st.sampled_from(ENTRY_PARTS))
        holder = entries[position]
        for name in parents:
            holder = holder.get(name) if isinstance(holder, dict) else None
        if not isinstance(holder, dict):
            continue
        broken = draw(BROKEN_PART)
        if broken == "missing":
            holder.pop(part, None)
        else:
            holder[part] = broken
    return FuzzRequest(serialised(document), GOOD_HEADERS, REFUSED_BEFORE_HAPI)


# ---------------------------------------------------------------- truncation
@st.composite
def truncated(draw) -> FuzzRequest:
    """A case bundle's JSON cut short at any byte: never valid JSON, always 400."""
    body = serialised(case_documents()[draw(case_names())])
    cut = draw(st.integers(0, len(body) - 1))
    return FuzzRequest(body[:cut], GOOD_HEADERS, REFUSED_AS_NOT_JSON)


# ---------------------------------------------------------------- huge strings and numbers
HUGE_UNITS = ("a", "9", "é", " ", "/", "2023-04-14", "urn:uuid:", "Patient/", "\\\\", "\\u00e9", "𝔘")
NOT_JSON_NUMBERS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1.5E+400")  # the last two overflow a float


@st.composite
def huge_strings(draw) -> FuzzRequest:
    """A string value of the case bundle grown to 1 kB - 5 MB, or replaced by a huge or non-JSON number."""
    document = fresh_document(draw(case_names()))
    path = draw(st.sampled_from(string_paths_in(document)))
    size = draw(st.sampled_from([1_000, 100_000, 1_000_000, MAX_BODY_BYTES - 20_000, MAX_BODY_BYTES + 1_000_000])
                | st.integers(1_000, MAX_BODY_BYTES + 1_000_000))
    shape = draw(st.sampled_from(["string"] * 8 + ["huge number", "not a JSON number"]))
    if shape == "not a JSON number":
        raw = draw(st.sampled_from(NOT_JSON_NUMBERS))
    elif shape == "huge number":
        raw = draw(st.sampled_from([b"9", b"-9", b"0.9"])) + b"9" * size
    else:
        unit = draw(st.sampled_from(HUGE_UNITS))
        raw = b'"' + (unit * (size // len(unit.encode()) + 1)).encode() + b'"'
    body = with_raw_value(document, path, raw)
    if len(body) > MAX_BODY_BYTES:
        return FuzzRequest(body, GOOD_HEADERS, Expectation(
            "413 gateway-body-size", lambda status, rules: status == 413 and rules == ["gateway-body-size"]))
    too_many_digits = b"." not in raw and len(raw.lstrip(b"-")) > sys.get_int_max_str_digits()
    if shape == "not a JSON number" or (shape == "huge number" and too_many_digits):
        return FuzzRequest(body, GOOD_HEADERS, REFUSED_AS_NOT_JSON)
    return FuzzRequest(body, GOOD_HEADERS)


# ---------------------------------------------------------------- deep nesting
def nested(kind: str, levels: int) -> bytes:
    """JSON text nested ``levels`` deep: arrays, objects, both in turn, or arrays never closed."""
    if kind == "arrays":
        return b"[" * levels + b"]" * levels
    if kind == "objects":
        return b'{"extension":' * (levels - 1) + b"{}" + b"}" * (levels - 1)
    if kind == "alternating":
        opening = b"".join(b"[" if level % 2 else b'{"a":' for level in range(levels - 1))
        closing = b"".join(b"]" if level % 2 else b"}" for level in reversed(range(levels - 1)))
        return opening + b"[]" + closing
    return b"[" * levels


@st.composite
def deep_nesting(draw) -> FuzzRequest:
    """A value nested to just under, at, just over or far beyond the depth limit."""
    document = fresh_document(draw(case_names()))
    path = draw(st.sampled_from(paths_in(document)))
    # The value at ``path`` sits len(path) + 1 levels down (the root object is level 1).
    levels = draw(st.integers(max(1, MAX_JSON_DEPTH - len(path) - 3), MAX_JSON_DEPTH - len(path) + 3)
                  | st.integers(1, 200_000))
    kind = draw(st.sampled_from(["arrays", "objects", "alternating", "unclosed"]))
    body = with_raw_value(document, path, nested(kind, levels))
    depth = len(path) + levels
    if kind == "unclosed":
        return FuzzRequest(body, GOOD_HEADERS, Expectation(
            "400 gateway-json or gateway-json-depth",
            lambda status, rules: status == 400 and rules in (["gateway-json"], ["gateway-json-depth"])))
    if depth > MAX_JSON_DEPTH:
        return FuzzRequest(body, GOOD_HEADERS, Expectation(
            f"400 gateway-json-depth (depth {depth})",
            lambda status, rules: status == 400 and rules == ["gateway-json-depth"]))
    return FuzzRequest(body, GOOD_HEADERS, Expectation(
        f"no depth refusal (depth {depth})", lambda status, rules: "gateway-json-depth" not in rules))


# ---------------------------------------------------------------- entry counts
@st.composite
def many_entries(draw) -> FuzzRequest:
    """Entries copied (or replaced by strangers) up to just under or over the entry limit."""
    document = fresh_document(draw(case_names()))
    if not isinstance(document.get("entry"), list) or not document["entry"]:
        document = fresh_document("V1")
    count = draw(st.integers(MAX_ENTRIES - 2, MAX_ENTRIES + 3) | st.integers(0, 3 * MAX_ENTRIES))
    originals = document["entry"]
    document["entry"] = [copy.deepcopy(originals[draw(st.integers(0, len(originals) - 1))])
                         if draw(st.booleans()) else draw(json_values) for _ in range(count)]
    if count > MAX_ENTRIES:
        return FuzzRequest(serialised(document), GOOD_HEADERS, Expectation(
            "413 gateway-entry-count", lambda status, rules: status == 413 and rules == ["gateway-entry-count"]))
    return FuzzRequest(serialised(document), GOOD_HEADERS)


# ---------------------------------------------------------------- bytes and encodings
@st.composite
def byte_mutations(draw) -> FuzzRequest:
    """A case bundle's bytes with 1 to 8 bits flipped, bytes inserted, deleted or repeated."""
    return FuzzRequest(mutated(draw, serialised(case_documents()[draw(case_names())])), GOOD_HEADERS)


def mutated(draw, original: bytes) -> bytes:
    body = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if action == "flip":
            body[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            body[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del body[position:position + draw(st.integers(1, 16))]
        else:
            body[position:position] = body[position:position + draw(st.integers(1, 64))]
        if not body:
            break
    return bytes(body)


INVALID_UTF8 = (b"\xff", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80")
UNPAIRED_SURROGATES = (b"\\ud800", b"\\udfff", b"\\udbff\\udbff")


@st.composite
def bad_unicode(draw) -> FuzzRequest:
    """Invalid UTF-8 or an unpaired surrogate escape inside a string (400), or the body in another encoding."""
    document = fresh_document(draw(case_names()))
    action = draw(st.sampled_from(["invalid utf-8", "escaped surrogate", "re-encoded"]))
    if action == "re-encoded":
        encoding = draw(st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
        body = json.dumps(document, ensure_ascii=False).encode(encoding, errors="replace")
        wide = encoding in ("utf-16", "utf-16-le", "utf-32")  # never UTF-8, whatever the text
        return FuzzRequest(body, GOOD_HEADERS, REFUSED_AS_NOT_JSON if wide else None)
    path = draw(st.sampled_from(string_paths_in(document)))
    inserted = draw(st.sampled_from(INVALID_UTF8 if action == "invalid utf-8" else UNPAIRED_SURROGATES))
    original = json.dumps(value_at(document, path), ensure_ascii=False).encode("utf-8")
    body = with_raw_value(document, path, b'"' + inserted + original[1:])
    return FuzzRequest(body, GOOD_HEADERS, REFUSED_AS_NOT_JSON)


# ---------------------------------------------------------------- bundles that pass every check
@st.composite
def accepted_bundles(draw) -> FuzzRequest:
    """An accepted case bundle, written in any JSON layout: HAPI (a closed port) answers 503."""
    name = draw(st.deferred(lambda: st.sampled_from(sorted(accepted_documents()))))
    document = accepted_documents()[name]
    body = json.dumps(document, ensure_ascii=draw(st.booleans()), sort_keys=draw(st.booleans()),
                      indent=draw(st.none() | st.integers(0, 4) | st.just("\t"))).encode("utf-8")
    headers = dict(GOOD_HEADERS)
    language = draw(st.none() | st.sampled_from(["en", "fr-FR", "en-GB,en;q=0.9,fr;q=0.5", "de, *;q=0.1"])
                    | header_text)
    if language:
        headers["Accept-Language"] = language
    return FuzzRequest(body, headers, Expectation(
        "503 gateway-hapi-unreachable",
        lambda status, rules: status == 503 and rules == ["gateway-hapi-unreachable"]))


# ---------------------------------------------------------------- headers
ACCEPTED_CONTENT_TYPES = (FHIR_JSON, "application/json", "application/fhir+json; charset=utf-8",
                          "APPLICATION/FHIR+JSON;fhirVersion=4.0", " application/json ", "application/json+fhir")
REFUSED_CONTENT_TYPES = (None, "", "text/plain", "text/json",
                         "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                         "application/json-patch+json", ";application/json")
ACCEPTABLE_ANSWERS = (None, "", "*/*", FHIR_JSON, "application/json", "application/*",
                      "text/html, */*;q=0.8", "application/fhir+json;q=0.9, application/fhir+xml",
                      "application/xml+fhir;q=0.9, application/json+fhir;q=0.9")
# Content-Encoding: how the body is compressed, or None for a refused coding (sent uncompressed).
CONTENT_CODINGS = {None: lambda body: body, "identity": lambda body: body, "gzip": gzip.compress,
                   "deflate": zlib.compress, "br": None, "compress": None, "gzip, gzip": None}
REFUSED_ANSWERS = ("text/html", "text/plain, image/*", "image/png", "json", "application/fhir+json;q=0")



@st.composite
def header_variants(draw) -> FuzzRequest:
    """An accepted bundle with any mix of good and bad Content-Type, Content-Encoding, Accept and API key.

    The labels of the sampled values say which refusal comes first: 415
    (content type, then content coding), then 406 (Accept), then 401 (API
    key), else 503 (HAPI).
    """
    body = serialised(accepted_documents()["V1"])
    coding = draw(st.sampled_from(sorted(CONTENT_CODINGS, key=str)))
    compress = CONTENT_CODINGS[coding]
    content_type_ok = draw(st.booleans())
    accept_ok = draw(st.booleans())
    key = draw(st.sampled_from(["valid", "missing", "empty", "wrong"]))
    headers = {}
    content_type = draw(st.sampled_from(ACCEPTED_CONTENT_TYPES) if content_type_ok
                        else st.sampled_from(REFUSED_CONTENT_TYPES) | token_text.map(lambda t: "text/" + t))
    if content_type is not None:
        headers["Content-Type"] = content_type
    if coding is not None:
        headers["Content-Encoding"] = coding
        body = compress(body) if compress else body
    accept = draw(st.sampled_from(ACCEPTABLE_ANSWERS) if accept_ok
                  else st.sampled_from(REFUSED_ANSWERS) | token_text.map(lambda t: "image/" + t))
    if accept is not None:
        headers["Accept"] = accept
    if key != "missing":
        headers["X-API-Key"] = {"valid": TEST_API_KEY, "empty": "", "wrong": "x" + draw(header_text)}[key]
    for name in ("Accept-Language", "X-Request-ID", "X-SSL-Client-S-DN"):
        if draw(st.booleans()):
            headers[name] = draw(header_text)
    if not content_type_ok:
        expected = (415, "gateway-content-type")
    elif compress is None:
        expected = (415, "gateway-content-encoding")
    elif not accept_ok:
        expected = (406, "gateway-accept")
    elif key != "valid":
        expected = (401, "gateway-authentication")
    else:
        expected = (503, "gateway-hapi-unreachable")
    return FuzzRequest(body, headers, Expectation(
        f"{expected[0]} {expected[1]}", lambda status, rules: status == expected[0] and rules == [expected[1]]))


# ---------------------------------------------------------------- FHIR XML
FHIR_XML = "application/fhir+xml"
XML_HEADERS = {"Content-Type": FHIR_XML, "X-API-Key": TEST_API_KEY}
REFUSED_AS_BAD_XML = Expectation("400 gateway-xml", lambda status, rules: status == 400 and rules == ["gateway-xml"])
FHIR_NS = b'xmlns="http://hl7.org/fhir"'
HOSTILE_PROLOGUES = (
    b'<!DOCTYPE Bundle [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE Bundle [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE Bundle [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
    b'<!DOCTYPE Bundle SYSTEM "http://127.0.0.1:9/fhir.dtd">',
    b'<!DOCTYPE Bundle [<!ELEMENT Bundle ANY>]>',
)


@lru_cache(maxsize=1)
def fhir_xml() -> FhirXml:
    return FhirXml.from_package(package_dir() / Settings.from_env().r4_core_package)


def xml_of(document: dict) -> bytes:
    return fhir_xml().to_xml(document).encode("utf-8")


@st.composite
def xml_byte_mutations(draw) -> FuzzRequest:
    """A case bundle written as FHIR XML, then bit-flipped, cut, stretched or truncated."""
    name = draw(st.deferred(lambda: st.sampled_from(sorted(case_documents()))))
    document = case_documents()[name]
    if not isinstance(document.get("resourceType"), str) or not _writable(document):
        document = accepted_documents()["V1"]
    body = xml_of(document)
    if draw(st.booleans()):
        body = body[:draw(st.integers(0, len(body) - 1))]
        return FuzzRequest(body, XML_HEADERS, REFUSED_AS_BAD_XML)
    return FuzzRequest(mutated(draw, body), XML_HEADERS)


def _writable(document: dict) -> bool:
    try:
        fhir_xml().to_xml(document)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


@st.composite
def hostile_xml(draw) -> FuzzRequest:
    """Entity bombs, external entities, DTDs, foreign or missing namespaces, unknown elements: all 400."""
    body = xml_of(accepted_documents()[draw(st.sampled_from(sorted(accepted_documents())))])
    attack = draw(st.sampled_from(["prologue", "namespace", "unknown element", "entity reference", "encoding"]))
    if attack == "prologue":
        body = b'<?xml version="1.0"?>' + draw(st.sampled_from(HOSTILE_PROLOGUES)) + body
    elif attack == "namespace":
        body = body.replace(FHIR_NS, draw(st.sampled_from(
            [b"", b'xmlns="http://hl7.org/fhir/"', b'xmlns="urn:x"', b'xmlns:f="http://hl7.org/fhir"'])), 1)
    elif attack == "unknown element":
        tag = draw(token_text.filter(lambda t: t and t[0].isalpha())).encode()
        position = body.index(b"<type ")
        body = body[:position] + b"<x" + tag + b' value="1"/>' + body[position:]
    elif attack == "entity reference":
        body = body.replace(b'value="transaction"', b'value="&' + draw(st.sampled_from(
            [b"lol", b"xxe", b"#0", b"#xD800"])) + b';"', 1)
    else:
        body = b'<?xml version="1.0" encoding="' + draw(st.sampled_from(
            [b"ISO-8859-1", b"UTF-16", b"US-ASCII", b"EBCDIC-US"])) + b'"?>' + body
    return FuzzRequest(body, XML_HEADERS, REFUSED_AS_BAD_XML)


@st.composite
def accepted_xml_bundles(draw) -> FuzzRequest:
    """An accepted case bundle as XML, asking for either format back: HAPI (a closed port) answers 503."""
    body = xml_of(accepted_documents()[draw(st.sampled_from(sorted(accepted_documents())))])
    headers = {**XML_HEADERS, "Accept": draw(st.sampled_from([FHIR_XML, FHIR_JSON, "*/*", "application/xml"]))}
    return FuzzRequest(body, headers, Expectation(
        "503 gateway-hapi-unreachable",
        lambda status, rules: status == 503 and rules == ["gateway-hapi-unreachable"]))


REQUEST_STRATEGIES = {
    "truncated JSON": truncated(),
    "wrong types at random paths": wrong_values(),
    "entries with parts missing or null": broken_entries(),
    "huge strings and numbers": huge_strings(),
    "deep nesting": deep_nesting(),
    "entry counts": many_entries(),
    "byte mutations": byte_mutations(),
    "invalid Unicode": bad_unicode(),
    "accepted bundles": accepted_bundles(),
    "headers and API key": header_variants(),
    "XML byte mutations": xml_byte_mutations(),
    "hostile XML": hostile_xml(),
    "accepted bundles as XML": accepted_xml_bundles(),
}
