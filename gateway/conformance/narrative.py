"""The XHTML of a narrative (R4 narrative.html §2.4.0.2 and the ``xhtml`` type).

- the value is well-formed XML whose root is a ``div`` in the XHTML namespace;
- ``txt-1``: only basic HTML formatting elements (HTML 4.0 chapters 7-11 and
  15, ``a``, ``img``), no script nor event attributes (``on...``);
- ``txt-2``: some non-whitespace content (text or an image).
"""
from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

XHTML = "{http://www.w3.org/1999/xhtml}"
_ALLOWED = frozenset("""p br div h1 h2 h3 h4 h5 h6 a span b em i strong small big tt dfn q var abbr acronym cite
    blockquote hr address bdo kbd sub sup ul ol li dl dt dd pre table caption colgroup col thead tr tfoot tbody th
    td code samp img map area""".split())


def xhtml_problems(value: str) -> list[tuple[str, str]]:
    """``(rule, reason)`` for each way ``value`` is not a valid R4 narrative div (empty when it is)."""
    try:
        root = fromstring(value)
    except (ParseError, DefusedXmlException) as exc:
        return [("fhir-xhtml", f"not well-formed XML ({type(exc).__name__})")]
    if root.tag != XHTML + "div":
        return [("fhir-xhtml", "the root element is a div in the XHTML namespace")]
    problems = []
    for node in root.iter():
        name = node.tag[len(XHTML):] if isinstance(node.tag, str) and node.tag.startswith(XHTML) else None
        if name not in _ALLOWED:
            problems.append(("txt-1", f"element {node.tag} is not allowed in a narrative"))
        events = sorted(a for a in node.attrib if a.rpartition("}")[2].lower().startswith("on"))
        if events:
            problems.append(("txt-1", f"event attribute {events[0]} is not allowed in a narrative"))
    if not "".join(root.itertext()).strip() and root.find(f".//{XHTML}img") is None:
        problems.append(("txt-2", "the narrative has no non-whitespace content"))
    return problems
