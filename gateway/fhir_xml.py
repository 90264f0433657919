"""FHIR R4 XML <-> JSON, driven by the R4 StructureDefinitions.

The gateway checks JSON only; XML bodies are converted on the way in and
answers on the way out. What the XML does not say and JSON needs (is an
element an array? which type does ``valueQuantity`` carry? is ``id`` an
attribute?) comes from the base definitions of the R4 core package: max
cardinality, type codes, choice elements ``[x]``, ``contentReference`` and the
``xmlAttr`` representation. Parsing goes through defusedxml: a DTD, an entity
declaration or an external reference is refused, never expanded or fetched.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.intake import Limits, Rejected, check_bundle
from gateway.outcome import single
from gateway.packages import read_package

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
SYSTEM_TYPE_PREFIX = "http://hl7.org/fhirpath/System."
FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
# The type of contained, Bundle.entry.resource, Parameters.parameter.resource...: in XML a
# wrapper element around one resource element.
RESOURCE = "Resource"
HTML_VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"}
BOOLEAN = {"true": True, "false": False}
INTEGERS = {"integer", "positiveInt", "unsignedInt"}
XML_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


class FhirXmlError(ValueError):
    """The XML is not a FHIR R4 resource the definitions can read (bilingual for the OperationOutcome)."""

    def __init__(self, fr: str, en: str):
        super().__init__(en)
        self.fr = fr
        self.en = en


@dataclass(frozen=True)
class Child:
    """One child element of a type or backbone element, as the definitions describe it."""

    name: str                 # JSON/XML name without [x]
    repeats: bool             # max cardinality above 1: a JSON array
    types: tuple[str, ...]    # FHIR type codes (System.* mapped back to their FHIR type)
    attribute: bool           # written as an XML attribute (Element.id, Extension.url)
    inline: str | None        # path whose children this element holds (backbone, contentReference)
    choice: bool

    def names(self) -> list[tuple[str, str]]:
        """(element name, type code) pairs: ``valueString`` for each type of ``value[x]``."""
        if not self.choice:
            return [(self.name, self.types[0])]
        return [(self.name + code[0].upper() + code[1:], code) for code in self.types]


def is_primitive(type_code: str) -> bool:
    return type_code[:1].islower()


def _type_code(type_entry: dict) -> str:
    code = type_entry["code"]
    if code.startswith(SYSTEM_TYPE_PREFIX):
        for extension in type_entry.get("extension", []):
            if extension.get("url") == FHIR_TYPE_EXTENSION:
                return extension["valueUrl"]
        return code[len(SYSTEM_TYPE_PREFIX):].lower()
    return code


class R4Model:
    """Children of every R4 type and backbone path, in definition order."""

    def __init__(self, structure_definitions: Iterable[dict]):
        self.children: dict[str, dict[str, Child]] = {}
        self.resource_types: set[str] = set()
        for definition in structure_definitions:
            if definition.get("derivation", "specialization") != "specialization" or definition["kind"] == "logical":
                continue
            if definition["kind"] == "resource":
                self.resource_types.add(definition["type"])
            self._add(definition)
        self.by_name: dict[str, dict[str, tuple[Child, str]]] = {
            path: {name: (child, code) for child in children.values() for name, code in child.names()}
            for path, children in self.children.items()}

    @classmethod
    def from_package(cls, path: Path) -> "R4Model":
        """Each StructureDefinition parsed in turn and not kept: the tables are all XML needs of them."""
        package = read_package(path)
        return cls(package.resource(entry.filename, keep=False) for entry in package.index
                   if entry.resource_type == "StructureDefinition")

    def _add(self, definition: dict) -> None:
        elements = definition["snapshot"]["element"]
        paths_with_children = {element["path"].rpartition(".")[0] for element in elements}
        for element in elements[1:]:
            parent, _, name = element["path"].rpartition(".")
            choice = name.endswith("[x]")
            reference = element.get("contentReference")
            inline = reference[1:] if reference else (element["path"] if element["path"] in paths_with_children
                                                      else None)
            # A contentReference element has no type of its own: it repeats the referenced backbone.
            types = tuple(_type_code(entry) for entry in element.get("type", [])) or ("BackboneElement",)
            self.children.setdefault(parent, {})[name] = Child(
                name[:-3] if choice else name, element.get("max", "1") not in ("0", "1"), types,
                "xmlAttr" in element.get("representation", []), inline, choice)

    def node_of(self, child: Child, type_code: str) -> str:
        """The path whose children describe this element's content."""
        return child.inline or type_code


@lru_cache(maxsize=2)
def _model(path: Path) -> R4Model:
    """One model per package file and process: reading the 4,581 R4 resources takes seconds."""
    return R4Model.from_package(path)


class FhirXml:
    """XML reading and writing for one R4 model."""

    def __init__(self, model: R4Model):
        self.model = model

    @classmethod
    def from_package(cls, path: Path) -> "FhirXml":
        return cls(_model(Path(path).resolve()))

    # ------------------------------------------------------------------ XML -> JSON

    def parse_resource(self, raw: bytes, limits: Limits = Limits()) -> dict:
        """A FHIR resource from XML bytes, or ``Rejected`` 400 saying why not."""
        try:
            return self.to_json(self._parse(raw), limits.max_depth)
        except FhirXmlError as error:
            raise Rejected(400, [single("error", "structure", f"XML FHIR invalide : {error.fr}",
                                        f"Invalid FHIR XML: {error.en}", rule="gateway-xml")]) from None

    def parse_bundle(self, raw: bytes, limits: Limits = Limits()) -> dict:
        """The XML twin of ``intake.parse_bundle``: same Bundle and entry-count checks."""
        return check_bundle(self.parse_resource(raw, limits), limits)

    @staticmethod
    def _parse(raw: bytes) -> Element:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FhirXmlError(f"le corps n'est pas en UTF-8 ({exc.reason}, octet {exc.start})",
                               f"the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
        declared = XML_DECLARED_ENCODING.match(raw)
        if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise FhirXmlError("seul l'encodage UTF-8 est admis", "only the UTF-8 encoding is allowed")
        try:
            return fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            raise FhirXmlError(f"DTD, entité ou référence externe interdite ({type(exc).__name__})",
                               f"DTD, entity or external reference forbidden ({type(exc).__name__})") from None
        except ParseError as exc:
            raise FhirXmlError(f"XML mal formé ({exc})", f"malformed XML ({exc})") from None

    def to_json(self, root: Element, max_depth: int = 64) -> dict:
        """The JSON form of a parsed FHIR resource element."""
        namespace, name = _split(root.tag)
        if namespace != FHIR_NS:
            raise FhirXmlError(f"l'élément racine doit être dans l'espace de noms {FHIR_NS} (trouvé : "
                               f"{namespace or 'aucun'})",
                               f"the root element must be in the {FHIR_NS} namespace (found: {namespace or 'none'})")
        return self._resource(root, name, 1, max_depth)

    def _resource(self, element: Element, name: str, depth: int, max_depth: int) -> dict:
        if name not in self.model.resource_types:
            raise FhirXmlError(f"{name} n'est pas un type de ressource R4", f"{name} is not an R4 resource type")
        return {"resourceType": name, **self._object(element, name, name, depth, max_depth)}

    def _object(self, element: Element, node: str, where: str, depth: int, max_depth: int) -> dict:
        if depth > max_depth:
            raise FhirXmlError(f"le XML est imbriqué sur plus de {max_depth} niveaux",
                               f"the XML is nested more than {max_depth} levels deep")
        known = self.model.by_name.get(node, {})
        result: dict = {}
        for attribute, value in element.attrib.items():
            child = self.model.children.get(node, {}).get(attribute)
            if child is None or not child.attribute:
                raise FhirXmlError(f"attribut inconnu {attribute} sur {where}",
                                   f"unknown attribute {attribute} on {where}")
            result[attribute] = value
        _no_text(element.text, where)
        for item in element:
            _no_text(item.tail, where)
            namespace, name = _split(item.tag)
            at = f"{where}.{name}"
            found = known.get(name)
            if found is None or found[0].attribute or (namespace != FHIR_NS and found[1] != "xhtml"):
                raise FhirXmlError(f"élément inconnu {at}", f"unknown element {at}")
            child, code = found
            if is_primitive(code):
                value, extra = self._primitive(item, code, at, depth + 1, max_depth)
                _put(result, name, value, child.repeats, at)
                _put(result, "_" + name, extra, child.repeats, at)
            else:
                _put(result, name, self._complex(item, child, code, at, depth + 1, max_depth), child.repeats, at)
        return _align_primitive_arrays(result)

    def _complex(self, item: Element, child: Child, code: str, at: str, depth: int, max_depth: int) -> dict:
        if code == RESOURCE:
            inner = list(item)
            _no_text(item.text, at)
            if len(inner) != 1 or _split(inner[0].tag)[0] != FHIR_NS:
                raise FhirXmlError(f"{at} doit contenir exactement une ressource FHIR",
                                   f"{at} must hold exactly one FHIR resource")
            _no_text(inner[0].tail, at)
            return self._resource(inner[0], _split(inner[0].tag)[1], depth + 1, max_depth)
        return self._object(item, self.model.node_of(child, code), at, depth, max_depth)

    def _primitive(self, item: Element, code: str, at: str, depth: int, max_depth: int):
        if code == "xhtml":
            if item.tag != f"{{{XHTML_NS}}}div":
                raise FhirXmlError(f"{at} doit être un élément div XHTML", f"{at} must be an XHTML div element")
            return _xhtml_text(item), None
        extra = self._object(item, code, at, depth, max_depth)
        raw_value = extra.pop("value", None)
        if raw_value is None and not extra:
            raise FhirXmlError(f"{at} n'a ni valeur ni extension", f"{at} has neither a value nor an extension")
        return (None if raw_value is None else _typed(raw_value, code, at)), (extra or None)

    # ------------------------------------------------------------------ JSON -> XML

    def to_xml(self, resource: dict) -> str:
        """The XML form of a JSON resource (``ValueError`` for what R4 does not define)."""
        name = resource["resourceType"]
        return self._write_resource(resource, name, ' xmlns="http://hl7.org/fhir"')

    def _write_resource(self, resource: dict, name: str, namespace: str = "") -> str:
        if name not in self.model.resource_types:
            raise ValueError(f"{name} is not an R4 resource type")
        body = {key: value for key, value in resource.items() if key != "resourceType"}
        return self._write_element(name, body, name, namespace)

    def _write_element(self, tag: str, content: dict, node: str, namespace: str = "") -> str:
        children = self.model.children.get(node, {})
        unknown = {key.lstrip("_") for key in content} - set(self.model.by_name.get(node, {}))
        if unknown:
            raise ValueError(f"{node} has no element {sorted(unknown)}")
        attributes = "".join(f" {child.name}={quoteattr(_text(content[child.name]))}"
                             for child in children.values() if child.attribute and child.name in content)
        parts = []
        for child in children.values():
            if child.attribute:
                continue
            for name, code in child.names():
                values, extras = content.get(name), content.get("_" + name)
                if values is None and extras is None:
                    continue
                if not child.repeats:
                    values, extras = [values], [extras]
                values = values or [None] * len(extras or [])
                extras = extras or [None] * len(values)
                for value, extra in zip(values, extras):
                    parts.append(self._write_child(name, child, code, value, extra))
        inner = "".join(parts)
        return f"<{tag}{namespace}{attributes}/>" if not inner else f"<{tag}{namespace}{attributes}>{inner}</{tag}>"

    def _write_child(self, name: str, child: Child, code: str, value, extra: dict | None) -> str:
        if code == "xhtml":
            return _xhtml_text(_parse_narrative(value))
        if is_primitive(code):
            content = dict(extra or {})
            if value is not None:
                content["value"] = value
            return self._write_element(name, content, code)
        if code == RESOURCE:
            return f"<{name}>{self._write_resource(value, value['resourceType'])}</{name}>"
        return self._write_element(name, value, self.model.node_of(child, code))


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


def _no_text(text: str | None, where: str) -> None:
    if text and text.strip():
        raise FhirXmlError(f"texte inattendu dans {where}", f"unexpected text in {where}")


def _put(result: dict, name: str, value, repeats: bool, at: str) -> None:
    if repeats:
        result.setdefault(name, []).append(value)
    elif name in result:
        raise FhirXmlError(f"{at} ne peut figurer qu'une fois", f"{at} may appear only once")
    elif value is not None:
        result[name] = value


def _align_primitive_arrays(result: dict) -> dict:
    """``given: ["A", null]`` beside ``_given: [null, {...}]``; arrays of only nulls disappear."""
    for name in [key for key in result if key.startswith("_")]:
        extras = result[name]
        if isinstance(extras, list) and all(extra is None for extra in extras):
            del result[name]
        elif isinstance(extras, list) and all(value is None for value in result.get(name[1:], [])):
            del result[name[1:]]
    return result


def _typed(raw: str, code: str, at: str):
    """The JSON value of a primitive's ``value`` attribute (booleans and numbers are not strings)."""
    try:
        if code == "boolean":
            return BOOLEAN[raw]
        if code in INTEGERS:
            return int(raw)
        if code == "decimal":
            number = float(raw) if any(mark in raw for mark in ".eE") else int(raw)
            if isinstance(number, float) and not math.isfinite(number):
                raise ValueError(raw)
            return number
    except (KeyError, ValueError):
        raise FhirXmlError(f"{at} : valeur {raw[:40]!r} invalide pour le type {code}",
                           f"{at}: value {raw[:40]!r} is not a valid {code}") from None
    return raw


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_narrative(text: str) -> Element:
    """A JSON narrative div, checked to be one well-formed XHTML div before it is written out."""
    try:
        element = fromstring(text.encode("utf-8"), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise ValueError(f"narrative is not well-formed XHTML: {exc}") from None
    if element.tag != f"{{{XHTML_NS}}}div":
        raise ValueError("narrative is not an XHTML div")
    return element


def _xhtml_text(element: Element) -> str:
    """The narrative div as JSON carries it: XHTML text with its own namespace declaration."""
    return _write_xhtml(element, declare=True)


def _write_xhtml(element: Element, declare: bool = False) -> str:
    namespace, name = _split(element.tag)
    if namespace != XHTML_NS:
        raise FhirXmlError(f"élément {name} hors de l'espace de noms XHTML dans le récit",
                           f"element {name} outside the XHTML namespace in the narrative")
    attributes = "".join(
        f" {_xhtml_attribute(key)}={quoteattr(value)}" for key, value in element.attrib.items())
    opening = f"<{name}{' xmlns=' + quoteattr(XHTML_NS) if declare else ''}{attributes}"
    inner = escape(element.text or "") + "".join(
        _write_xhtml(child) + escape(child.tail or "") for child in element)
    # HTML void elements close themselves; any other empty element keeps its end tag, as browsers expect.
    return f"{opening}/>" if not inner and name in HTML_VOID_ELEMENTS else f"{opening}>{inner}</{name}>"


def _xhtml_attribute(key: str) -> str:
    namespace, name = _split(key)
    if namespace is None:
        return name
    if namespace == "http://www.w3.org/XML/1998/namespace":
        return f"xml:{name}"
    raise FhirXmlError(f"attribut {name} d'un espace de noms étranger dans le récit",
                       f"attribute {name} from a foreign namespace in the narrative")
