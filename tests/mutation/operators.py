"""Mutation operators over valid TDDUI transaction bundles, and a seeded generator.

Each operator takes a bundle it may change (a fresh copy), picks a place with
the given ``random.Random`` and changes it; it returns a short description of
what it did (``Bundle.entry[0].resource.gender: wrapped in an array``), or
``None`` when the bundle has no place it applies to. The operators cover the
classes of disagreement seen between the gateway and HAPI (issue 12): JSON
shape (deletions, wrong types, array/single swaps, empty values, nulls, unknown
elements), values (codes, dates, systems, identifiers, whitespace), structure
(references, request fields, fullUrl, ids, meta, duplicated entries) and
resource features (extensions, narrative, contained resources).
"""
from __future__ import annotations

import copy
import json
import random
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

Path = tuple  # keys (str) and indexes (int) from the Bundle down
Operator = Callable[[dict, random.Random], "str | None"]

FOREIGN_BASE = "http://foreign.example.org/fhir/"
UNKNOWN_EXTENSION = "http://example.org/fhir/StructureDefinition/unknown-extension"
XHTML = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class Mutant:
    operator: str
    description: str
    baseline: str
    bundle: dict


# ------------------------------------------------------------------ tree helpers
def walk(node, path: Path = ()) -> Iterator[tuple[Path, object]]:
    """Every value below ``node`` with its path, parents before children."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, path + (index,))


def at(tree, path: Path):
    for step in path:
        tree = tree[step]
    return tree


def put(tree, path: Path, value) -> None:
    at(tree, path[:-1])[path[-1]] = value


def remove(tree, path: Path) -> None:
    del at(tree, path[:-1])[path[-1]]


def text(path: Path) -> str:
    """``Bundle.entry[0].resource.gender`` for ``("entry", 0, "resource", "gender")``."""
    out = "Bundle"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def pick(rng: random.Random, candidates: list):
    return rng.choice(candidates) if candidates else None


def places(bundle: dict, keep: Callable[[Path, object], bool]) -> list[Path]:
    return [path for path, value in walk(bundle) if path and keep(path, value)]


def key_of(path: Path):
    """The object key a value sits under (the list's key for an item)."""
    for step in reversed(path):
        if isinstance(step, str):
            return step
    return None


def resources(bundle: dict) -> list[tuple[Path, dict]]:
    return [(("entry", index, "resource"), entry["resource"])
            for index, entry in enumerate(bundle.get("entry") or [])
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)]


def entry_paths(bundle: dict) -> list[Path]:
    return [("entry", index) for index in range(len(bundle.get("entry") or []))]


def is_narrative(path: Path) -> bool:
    return "text" in path and "div" in path


# ------------------------------------------------------------------ JSON shape
def delete_element(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(p[-1], str)))
    if path is None:
        return None
    remove(bundle, path)
    return f"{text(path)}: deleted"


def wrong_json_type(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, (str, bool, int, float, dict)) and not is_narrative(p)))
    if path is None:
        return None
    value = at(bundle, path)
    if isinstance(value, bool):
        replacement = rng.choice(["true", 1])
    elif isinstance(value, (int, float)):
        replacement = rng.choice([str(value), True, {"value": value}])
    elif isinstance(value, str):
        replacement = rng.choice([42, 3.5, True, {"value": value}, 0])
    else:
        replacement = rng.choice(["object", 7, True])
    put(bundle, path, replacement)
    return f"{text(path)}: {type(value).__name__} replaced with {json.dumps(replacement)}"


def wrap_in_array(bundle: dict, rng: random.Random) -> str | None:
    """A single value sent as a one-item array."""
    path = pick(rng, places(bundle, lambda p, v: isinstance(p[-1], str) and not isinstance(v, list)
                          and not is_narrative(p[:-1])))
    if path is None:
        return None
    put(bundle, path, [at(bundle, path)])
    return f"{text(path)}: wrapped in an array"


def unwrap_array(bundle: dict, rng: random.Random) -> str | None:
    """An array sent as its first item, as an object, or as a string."""
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, list) and v))
    if path is None:
        return None
    items = at(bundle, path)
    variant = rng.choice(["first item", "object", "string"])
    put(bundle, path, items[0] if variant == "first item" else {"0": items[0]} if variant == "object"
        else json.dumps(items[0]) if not isinstance(items[0], str) else items[0] + "," + items[0])
    return f"{text(path)}: array sent as {variant}"


def empty_value(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(p[-1], str)))
    if path is None:
        return None
    replacement = rng.choice(["", [], {}, [""], [{}], [None]])
    put(bundle, path, replacement)
    return f"{text(path)}: {json.dumps(replacement)}"


def null_value(bundle: dict, rng: random.Random) -> str | None:
    """``null`` for a value, beside its ``_element``, or inside a primitive array."""
    variant = rng.choice(["null", "null beside _element", "null in array"])
    if variant == "null in array":
        path = pick(rng, places(bundle, lambda p, v: isinstance(v, list) and v and isinstance(v[0], str)))
        if path is None:
            return None
        at(bundle, path).append(None)
        return f"{text(path)}: null item appended"
    path = pick(rng, places(bundle, lambda p, v: isinstance(p[-1], str) and isinstance(v, str)
                          and not p[-1].startswith("_") and p[-1] not in ("resourceType", "div")))
    if path is None:
        return None
    if variant == "null beside _element":
        sibling = path[:-1] + ("_" + path[-1],)
        put(bundle, sibling, {"extension": [{"url": UNKNOWN_EXTENSION, "valueString": "x"}]})
    put(bundle, path, None)
    return f"{text(path)}: {variant}"


def unknown_element(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, [()] + places(bundle, lambda p, v: isinstance(v, dict) and not is_narrative(p)))
    name = rng.choice(["foo", "Status", "fhir_comments", "resourceType", "_foo", "valueStrin"])
    parent = at(bundle, path)
    if name in parent:
        return None
    parent[name] = rng.choice(["bar", 1, {"a": "b"}, ["x"]])
    return f"{text(path)}.{name}: unknown element added"


# ------------------------------------------------------------------ values
CODED_KEYS = ("status", "gender", "use", "method", "code", "type", "mode")


def bogus_code(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, str) and p[-1] in CODED_KEYS
                          and (p[-1] != "type" or len(p) == 1)))
    if path is None:
        return None
    code = at(bundle, path)
    replacement = rng.choice(["bogus", code.upper(), code.capitalize(), code.replace("-", " "), "XYZ",
                              code + "-x", "unknown", "in progress", "finished", "other", "M", "entered-in-error"])
    if replacement == code:
        replacement = "bogus"
    put(bundle, path, replacement)
    return f"{text(path)}: code {code!r} -> {replacement!r}"


DATE_KEYS = ("birthDate", "start", "end", "valueDateTime", "valueDate", "lastUpdated", "timestamp")
BAD_DATES = ["2023-13-01", "2023-02-30", "2023-4-11", "23-04-11", "2023-04-11T10:00", "2023-04-11T10:00:00",
             "2023-04-11T25:00:00Z", "2023-04-11 10:00:00", "11/04/2023", "2023-04-11T10:00:00+25:00", "0000-01-01",
             "2023", "2023-04", "2023-04-11T10:00:00.123Z", "2023-04-11Z", "2023-04-11T10:00:00+01:00", "2999-01-01",
             "1800-01-01", "2023-04-11T24:00:00Z", "2023-02-29", "2024-02-29", "+2023-04-11", "2023-04-11T10:00Z"]


def bad_date(bundle: dict, rng: random.Random) -> str | None:
    """Malformed, partial or odd dates; a period that ends before it starts, or on the same day with a time."""
    periods = places(bundle, lambda p, v: p[-1] == "period" and isinstance(v, dict) and "start" in v)
    if periods and rng.random() < 0.25:
        path = rng.choice(periods)
        start = at(bundle, path)["start"]
        end = rng.choice(["2000-01-01", start[:10] + "T12:00:00+01:00", start[:10] + "T00:00:00Z", start])
        at(bundle, path)["end"] = end
        return f"{text(path)}: end {end!r} for start {start!r}"
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, str) and p[-1] in DATE_KEYS))
    if path is None:
        return None
    replacement = rng.choice(BAD_DATES)
    put(bundle, path, replacement)
    return f"{text(path)}: {replacement!r}"


def bad_system(bundle: dict, rng: random.Random) -> str | None:
    """Systems that are not absolute URIs, invalid OIDs, unknown systems."""
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, str) and p[-1] == "system"))
    if path is None:
        return None
    system = at(bundle, path)
    oid = system[len("urn:oid:"):] if system.startswith("urn:oid:") else "1.2.250.1"
    replacement = rng.choice([oid, "urn:oid:" + oid + ".", "urn:oid:1.2.250.01.3", "urn:oid:abc", "oid:" + oid,
                              "CodeSystem/v2-0203", "fr-core-cs-v2-0203", "http://example.org/unknown-system",
                              "urn:uuid:not-a-uuid", "http://", "https://hl7.fr/ig/fhir/core/CodeSystem/unknown",
                              system + "/", "urn:oid:2.999"])
    put(bundle, path, replacement)
    return f"{text(path)}: system {replacement!r}"


def bad_identifier(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: key_of(p) == "identifier" and isinstance(p[-1], int)
                          and isinstance(v, dict)))
    if path is None:
        return None
    identifier = at(bundle, path)
    variant = rng.choice(["value removed", "system removed", "value empty", "value blank", "system blank",
                          "use bogus", "type code bogus", "duplicated", "period bogus", "assigner contained ref",
                          "value with newline", "type text only"])
    if variant == "value removed":
        identifier.pop("value", None)
    elif variant == "system removed":
        identifier.pop("system", None)
    elif variant == "value empty":
        identifier["value"] = ""
    elif variant == "value blank":
        identifier["value"] = "   "
    elif variant == "system blank":
        identifier["system"] = " "
    elif variant == "use bogus":
        identifier["use"] = "primary"
    elif variant == "type code bogus":
        identifier["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ZZZ"}]}
    elif variant == "duplicated":
        at(bundle, path[:-1]).append(copy.deepcopy(identifier))
    elif variant == "period bogus":
        identifier["period"] = {"start": "2023-05-01", "end": "2023-01-01"}
    elif variant == "assigner contained ref":
        identifier["assigner"] = {"reference": "#nowhere"}
    elif variant == "value with newline":
        identifier["value"] = str(identifier.get("value", "")) + "\n"
    else:
        identifier["type"] = {"text": "INS"}
    return f"{text(path)}: {variant}"


def whitespace(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, str) and p[-1] != "resourceType"
                          and not is_narrative(p)))
    if path is None:
        return None
    value = at(bundle, path)
    variant = rng.choice(["leading space", "trailing space", "only spaces", "tab inside", "newline at end",
                          "double space inside", "non-breaking space"])
    replacement = {"leading space": " " + value, "trailing space": value + " ", "only spaces": "   ",
                   "tab inside": value[:1] + "\t" + value[1:], "newline at end": value + "\n",
                   "double space inside": value[:1] + "  " + value[1:],
                   "non-breaking space": value + "\u00a0"}[variant]
    put(bundle, path, replacement)
    return f"{text(path)}: {variant}"


# ------------------------------------------------------------------ structure
def bad_reference(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: isinstance(v, dict) and isinstance(v.get("reference"), str)))
    if path is None:
        return None
    reference = at(bundle, path)
    target = reference["reference"]
    kind = target.split("/")[0] if "/" in target else "Patient"
    other = "Organization" if kind != "Organization" else "Patient"
    variant = rng.choice(["missing target", "#id with nothing contained", "urn:uuid not a uuid",
                          "unknown urn:uuid", "foreign absolute", "other type", "type mismatch", "empty",
                          "type only", "lower-case type", "space inside", "identifier only", "display only",
                          "version-specific", "type element matching", "query"])
    values = {"missing target": f"{kind}/does-not-exist", "#id with nothing contained": "#nowhere",
              "urn:uuid not a uuid": "urn:uuid:not-a-uuid", "unknown urn:uuid": f"urn:uuid:{uuid.UUID(int=7)}",
              "foreign absolute": f"{FOREIGN_BASE}{target}", "other type": f"{other}/{target.split('/')[-1]}",
              "empty": "", "type only": f"{kind}/", "lower-case type": target[:1].lower() + target[1:],
              "space inside": target.replace("/", "/ "), "version-specific": f"{target}/_history/1",
              "query": f"{kind}?identifier=none"}
    if variant in values:
        reference["reference"] = values[variant]
    elif variant == "type mismatch":
        reference["type"] = "Group"
    elif variant == "type element matching":
        reference["type"] = kind
    elif variant == "identifier only":
        del reference["reference"]
        reference["identifier"] = {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1000000000"}
    else:
        del reference["reference"]
        reference["display"] = "somebody"
    return f"{text(path)}: {variant}"


def bad_request(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, [p + ("request",) for p in entry_paths(bundle)
                      if isinstance(at(bundle, p), dict) and isinstance(at(bundle, p).get("request"), dict)])
    if path is None:
        return None
    request = at(bundle, path)
    url = request.get("url") if isinstance(request.get("url"), str) else "Patient"
    resource = at(bundle, path[:-1]).get("resource") or {}
    variant = rng.choice(["method GET", "method PUT on type", "method PUT with id", "method DELETE",
                          "method PATCH", "method lower-case", "method bogus", "url lower-case", "url foreign base",
                          "url empty", "url with id", "url other type", "url with query", "ifNoneExist own",
                          "ifNoneExist empty", "ifNoneExist bogus", "ifMatch", "request removed", "url leading slash",
                          "ifNoneExist not found"])
    if variant.startswith("method"):
        request["method"] = {"method GET": "GET", "method PUT on type": "PUT", "method DELETE": "DELETE",
                             "method PATCH": "PATCH", "method lower-case": "post", "method bogus": "SEND",
                             "method PUT with id": "PUT"}[variant]
        if variant == "method PUT with id":
            request["url"] = f"{url}/{resource.get('id', 'x')}"
    elif variant.startswith("url"):
        request["url"] = {"url lower-case": url.lower(), "url foreign base": FOREIGN_BASE + url, "url empty": "",
                          "url with id": f"{url}/{resource.get('id', 'x')}",
                          "url other type": "Observation" if url != "Observation" else "Patient",
                          "url with query": f"{url}?_format=json", "url leading slash": "/" + url}[variant]
    elif variant == "ifNoneExist own":
        identifier = (resource.get("identifier") or [{}])[0]
        request["ifNoneExist"] = f"identifier={identifier.get('system', '')}|{identifier.get('value', '')}"
    elif variant == "ifNoneExist empty":
        request["ifNoneExist"] = ""
    elif variant == "ifNoneExist bogus":
        request["ifNoneExist"] = "bogus-parameter=1"
    elif variant == "ifNoneExist not found":
        request["ifNoneExist"] = f"identifier=urn:oid:1.2.3|{uuid.UUID(int=rng.getrandbits(64))}"
    elif variant == "ifMatch":
        request["ifMatch"] = 'W/"1"'
    else:
        del at(bundle, path[:-1])["request"]
    return f"{text(path)}: {variant}"


def bad_full_url(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, [p for p in entry_paths(bundle) if isinstance(at(bundle, p), dict)])
    if path is None:
        return None
    entry = at(bundle, path)
    resource = entry.get("resource") or {}
    kind, rid = resource.get("resourceType", "Patient"), resource.get("id", "x")
    variant = rng.choice(["urn:uuid not a uuid", "urn:uuid (references stay Type/id)", "relative", "type mismatch",
                          "id mismatch", "empty", "removed", "urn:oid", "trailing space", "upper-case urn",
                          "foreign base", "with _history", "all urn:uuid (references stay Type/id)"])
    if variant == "all urn:uuid (references stay Type/id)":
        for each in bundle["entry"]:
            if isinstance(each, dict):
                each["fullUrl"] = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}"
    elif variant == "removed":
        entry.pop("fullUrl", None)
    else:
        entry["fullUrl"] = {
            "urn:uuid not a uuid": "urn:uuid:not-a-uuid",
            "urn:uuid (references stay Type/id)": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
            "relative": f"{kind}/{rid}", "type mismatch": f"https://test-server.fr/Basic/{rid}",
            "id mismatch": f"https://test-server.fr/{kind}/other-{rid}"[:90], "empty": "",
            "urn:oid": "urn:oid:1.2.250.1.999", "trailing space": f"https://test-server.fr/{kind}/{rid} ",
            "upper-case urn": f"URN:UUID:{uuid.UUID(int=rng.getrandbits(128))}",
            "foreign base": f"{FOREIGN_BASE}{kind}/{rid}",
            "with _history": f"https://test-server.fr/{kind}/{rid}/_history/1"}[variant]
    return f"{text(path)}.fullUrl: {variant}"


def bad_id(bundle: dict, rng: random.Random) -> str | None:
    """Resource and Bundle ids: bad characters, too long, padded, empty, missing."""
    targets = [((), bundle)] + resources(bundle)
    path, resource = rng.choice(targets)
    rid = str(resource.get("id", "x"))
    variant = rng.choice(["underscore", "65 characters", "64 characters", "leading space", "trailing space",
                          "empty", "removed", "slash", "unicode", "number", "dot and dash"])
    if variant == "removed":
        resource.pop("id", None)
    else:
        resource["id"] = {"underscore": rid.replace("-", "_"), "65 characters": ("a" * 65),
                          "64 characters": ("b" * 64), "leading space": " " + rid, "trailing space": rid + " ",
                          "empty": "", "slash": rid + "/1", "unicode": rid + "é", "number": 12345,
                          "dot and dash": rid + ".v-1"}[variant]
    return f"{text(path)}.id: {variant}"


def bad_meta(bundle: dict, rng: random.Random) -> str | None:
    targets = [((), bundle)] + resources(bundle)
    path, resource = rng.choice(targets)
    variant = rng.choice(["string", "number", "array", "profile as string", "unknown profile", "profile empty",
                          "removed", "profile not a url", "versionId", "lastUpdated bad", "security bogus",
                          "tag", "source", "profile duplicated", "profile with version"])
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    profiles = meta.get("profile") if isinstance(meta.get("profile"), list) else []
    first = profiles[0] if profiles else "https://example.org/p"
    if variant == "removed":
        resource.pop("meta", None)
    elif variant in ("string", "number", "array"):
        resource["meta"] = {"string": first, "number": 3, "array": [meta]}[variant]
    else:
        meta = copy.deepcopy(meta)
        update = {"profile as string": {"profile": first},
                  "unknown profile": {"profile": ["https://example.org/fhir/StructureDefinition/unknown"]},
                  "profile empty": {"profile": []}, "profile not a url": {"profile": ["tddui-patient"]},
                  "versionId": {"versionId": "7"}, "lastUpdated bad": {"lastUpdated": "yesterday"},
                  "security bogus": {"security": [{"system": "http://example.org", "code": "x"}]},
                  "tag": {"tag": [{"system": "http://example.org/tags", "code": "t"}]},
                  "source": {"source": "#producer"}, "profile duplicated": {"profile": [first, first]},
                  "profile with version": {"profile": [first + "|2.0.0-ballot"]}}[variant]
        meta.update(update)
        resource["meta"] = meta
    return f"{text(path)}.meta: {variant}"


def bundle_level(bundle: dict, rng: random.Random) -> str | None:
    variant = rng.choice(["type batch", "type collection", "type transaction-response", "type bogus",
                          "total", "timestamp bad", "link", "entry empty", "entry removed", "signature",
                          "identifier", "implicitRules", "language bogus"])
    if variant.startswith("type"):
        bundle["type"] = variant[len("type "):]
    elif variant == "total":
        bundle["total"] = 3
    elif variant == "timestamp bad":
        bundle["timestamp"] = "2023-04-11"
    elif variant == "link":
        bundle["link"] = [{"relation": "self", "url": "http://example.org/Bundle/1"}]
    elif variant == "entry empty":
        bundle["entry"] = []
    elif variant == "entry removed":
        bundle.pop("entry", None)
    elif variant == "signature":
        bundle["signature"] = {"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}]}
    elif variant == "identifier":
        bundle["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + str(uuid.UUID(int=5))}
    elif variant == "implicitRules":
        bundle["implicitRules"] = "http://example.org/rules"
    else:
        bundle["language"] = "klingon"
    return f"Bundle: {variant}"


def duplicate_entry(bundle: dict, rng: random.Random) -> str | None:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        return None
    index = rng.randrange(len(entries))
    variant = rng.choice(["verbatim", "new fullUrl", "no resource", "resource only", "empty entry",
                          "with response", "Observation entry", "search element", "resource null"])
    entry = entries[index]
    if variant == "verbatim":
        entries.append(copy.deepcopy(entry))
    elif variant == "new fullUrl":
        twin = copy.deepcopy(entry)
        twin["fullUrl"] = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}"
        entries.append(twin)
    elif variant == "no resource":
        entry.pop("resource", None)
    elif variant == "resource only":
        entry.pop("request", None)
        entry.pop("fullUrl", None)
    elif variant == "empty entry":
        entries.insert(index, {})
    elif variant == "with response":
        entry["response"] = {"status": "201 Created"}
    elif variant == "Observation entry":
        entries.append({"fullUrl": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
                        "resource": {"resourceType": "Observation", "status": "final",
                                     "code": {"text": "poids"}},
                        "request": {"method": "POST", "url": "Observation"}})
    elif variant == "search element":
        entry["search"] = {"mode": "match"}
    else:
        entry["resource"] = None
    return f"Bundle.entry[{index}]: {variant}"


def bad_extension(bundle: dict, rng: random.Random) -> str | None:
    path = pick(rng, places(bundle, lambda p, v: key_of(p) in ("extension", "modifierExtension")
                          and isinstance(p[-1], int) and isinstance(v, dict)))
    variant = rng.choice(["url removed", "url relative", "url with space", "url unknown", "two values",
                          "value removed", "value and extensions", "wrong value type", "unknown sub-extension",
                          "moved to another resource", "unknown modifierExtension", "empty extension",
                          "url fragment", "duplicated"])
    if variant == "unknown modifierExtension":
        path, resource = rng.choice(resources(bundle))
        resource["modifierExtension"] = [{"url": UNKNOWN_EXTENSION, "valueBoolean": True}]
        return f"{text(path)}.modifierExtension: unknown added"
    if path is None:
        return None
    extension = at(bundle, path)
    url = extension.get("url", "")
    value_keys = [key for key in extension if key.startswith("value")]
    if variant == "url removed":
        extension.pop("url", None)
    elif variant == "url relative":
        extension["url"] = url.rsplit("/", 1)[-1] if "/" in url else "StructureDefinition/" + url
    elif variant == "url with space":
        extension["url"] = url + " "
    elif variant == "url unknown":
        extension["url"] = UNKNOWN_EXTENSION
    elif variant == "url fragment":
        extension["url"] = url + "#x"
    elif variant == "two values":
        extension["valueString" if "valueString" not in extension else "valueCode"] = "extra"
    elif variant == "value removed":
        for key in value_keys:
            del extension[key]
    elif variant == "value and extensions":
        extension.setdefault("extension", []).append({"url": "part", "valueString": "x"})
        if not value_keys:
            extension["valueString"] = "x"
    elif variant == "wrong value type":
        for key in value_keys:
            del extension[key]
        key, value = rng.choice([("valueString", "text"), ("valueCode", "x"), ("valueBoolean", True),
                                 ("valueInteger", 3), ("valueCoding", {"code": "x"}), ("valueDate", "2023-04-11")])
        extension[key] = value
    elif variant == "unknown sub-extension":
        extension.setdefault("extension", []).append({"url": "notDefined", "valueString": "x"})
        for key in value_keys:
            del extension[key]
    elif variant == "moved to another resource":
        others = [(p, r) for p, r in resources(bundle) if p != path[:3]]
        if not others:
            return None
        other_path, other = rng.choice(others)
        other.setdefault("extension", []).append(copy.deepcopy(extension))
        return f"{text(path)} (url {url}): copied to {text(other_path)}.extension"
    elif variant == "empty extension":
        put(bundle, path, {})
    else:
        at(bundle, path[:-1]).append(copy.deepcopy(extension))
    return f"{text(path)} (url {url}): {variant}"


def bad_narrative(bundle: dict, rng: random.Random) -> str | None:
    candidates = [(p, r) for p, r in resources(bundle)]
    if not candidates:
        return None
    path, resource = rng.choice(candidates)
    narrative = resource.get("text") if isinstance(resource.get("text"), dict) else {}
    variant = rng.choice(["status bogus", "status removed", "div removed", "div plain text", "div without xmlns",
                          "div with script", "div with onclick", "div unclosed", "text as string", "status empty",
                          "div wrong root", "div empty", "status additional", "div with iframe",
                          "div with style attribute", "div with entity", "added to a resource without text"])
    narrative = copy.deepcopy(narrative) or {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>x</p></div>'}
    div = {"div plain text": "résumé du patient", "div without xmlns": "<div><p>x</p></div>",
           "div with script": f'<div xmlns="{XHTML}"><script>alert(1)</script></div>',
           "div with onclick": f'<div xmlns="{XHTML}"><p onclick="alert(1)">x</p></div>',
           "div unclosed": f'<div xmlns="{XHTML}"><p>x</div>', "div wrong root": f'<p xmlns="{XHTML}">x</p>',
           "div empty": f'<div xmlns="{XHTML}"></div>',
           "div with iframe": f'<div xmlns="{XHTML}"><iframe src="http://x"></iframe></div>',
           "div with style attribute": f'<div xmlns="{XHTML}" style="color:red"><p>x</p></div>',
           "div with entity": f'<div xmlns="{XHTML}"><p>&nbsp;x</p></div>'}
    if variant in div:
        narrative["div"] = div[variant]
    elif variant == "status bogus":
        narrative["status"] = "bogus"
    elif variant == "status removed":
        narrative.pop("status", None)
    elif variant == "div removed":
        narrative.pop("div", None)
    elif variant == "status empty":
        narrative["status"] = "empty"
    elif variant == "status additional":
        narrative["status"] = "additional"
    resource["text"] = narrative if variant != "text as string" else "résumé"
    return f"{text(path)}.text: {variant}"


def contained(bundle: dict, rng: random.Random) -> str | None:
    """Contained resources, referenced or not, well-formed or not."""
    candidates = resources(bundle)
    if not candidates:
        return None
    path, resource = rng.choice(candidates)
    variant = rng.choice(["referenced from the resource", "not referenced", "without id", "nested contained",
                          "with meta.versionId", "with narrative", "referencing the container",
                          "contained as object", "duplicate ids"])
    inner = {"resourceType": "Practitioner", "id": "contained-1", "name": [{"family": "MARTIN"}]}
    reference_from = {"Patient": "generalPractitioner", "Encounter": "participant",
                      "Organization": "contact"}.get(resource.get("resourceType"), "generalPractitioner")

    def refer() -> None:
        if reference_from == "participant":
            resource["participant"] = [{"individual": {"reference": "#contained-1"}}]
        elif reference_from == "contact":
            resource["partOf"] = {"reference": "#contained-1"}
            inner["resourceType"] = "Organization"
            inner.pop("name")
            inner["name"] = "Service"
        else:
            resource["generalPractitioner"] = [{"reference": "#contained-1"}]

    if variant == "without id":
        inner.pop("id")
    elif variant == "nested contained":
        inner["contained"] = [{"resourceType": "Practitioner", "id": "inner-1"}]
        refer()
    elif variant == "with meta.versionId":
        inner["meta"] = {"versionId": "1"}
        refer()
    elif variant == "with narrative":
        inner["text"] = {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>x</p></div>'}
        refer()
    elif variant == "referencing the container":
        inner["extension"] = [{"url": UNKNOWN_EXTENSION, "valueReference": {"reference": "#"}}]
        refer()
    elif variant in ("referenced from the resource", "contained as object", "duplicate ids"):
        refer()
    resource["contained"] = [inner] if variant != "contained as object" else inner
    if variant == "duplicate ids":
        resource["contained"].append(copy.deepcopy(inner))
    return f"{text(path)}.contained: {variant}"


OPERATORS: dict[str, Operator] = {
    "delete": delete_element,
    "wrong-json-type": wrong_json_type,
    "wrap-in-array": wrap_in_array,
    "unwrap-array": unwrap_array,
    "empty-value": empty_value,
    "null": null_value,
    "unknown-element": unknown_element,
    "bogus-code": bogus_code,
    "date": bad_date,
    "system": bad_system,
    "identifier": bad_identifier,
    "whitespace": whitespace,
    "reference": bad_reference,
    "request": bad_request,
    "full-url": bad_full_url,
    "id": bad_id,
    "meta": bad_meta,
    "bundle": bundle_level,
    "duplicate-entry": duplicate_entry,
    "extension": bad_extension,
    "narrative": bad_narrative,
    "contained": contained,
}


def mutants(baselines: dict[str, dict], count: int, seed: int) -> list[Mutant]:
    """``count`` distinct mutants, operators taken in turn, baselines and places drawn from ``seed``."""
    rng = random.Random(seed)
    names = list(OPERATORS)
    seen = {json.dumps(bundle, sort_keys=True) for bundle in baselines.values()}
    out: list[Mutant] = []
    attempts = 0
    while len(out) < count and attempts < count * 20:
        operator = names[attempts % len(names)]
        attempts += 1
        baseline = rng.choice(sorted(baselines))
        bundle = copy.deepcopy(baselines[baseline])
        description = OPERATORS[operator](bundle, rng)
        key = json.dumps(bundle, sort_keys=True)
        if description is None or key in seen:
            continue
        seen.add(key)
        out.append(Mutant(operator, description, baseline, bundle))
    return out
