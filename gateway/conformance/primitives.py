"""FHIR R4 primitive types: their JSON representation and lexical rules
(regular expressions from the R4 specification, datatypes.html)."""
from __future__ import annotations

import re
from datetime import date

_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_MONTH = r"(0[1-9]|1[0-2])"

PATTERNS = {
    "date": rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?",
    "dateTime": rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_TZ})?)?)?",
    "instant": rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_TZ}",
    "time": _TIME,
    "code": r"[^\s]+( [^\s]+)*",
    "id": r"[A-Za-z0-9\-\.]{1,64}",
    "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
    "uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "uri": r"\S*",
    "url": r"\S*",
    "canonical": r"\S*",
    "base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
}
# string, markdown, xhtml: "[ \r\n\t\S]+" in XML Schema terms, where \S is
# anything but those four characters: not empty, not only XML white space.
_TEXT_TYPES = {"string", "markdown", "xhtml"}
_COMPILED = {name: re.compile(pattern) for name, pattern in PATTERNS.items()}

INTEGER_TYPES = {"integer": None, "unsignedInt": 0, "positiveInt": 1}
PRIMITIVE_TYPES = set(PATTERNS) | _TEXT_TYPES | set(INTEGER_TYPES) | {"boolean", "decimal"}


def primitive_problem(type_code: str, value) -> str | None:
    """Why ``value`` is not a valid JSON ``type_code`` (None when it is)."""
    if type_code == "boolean":
        return None if isinstance(value, bool) else "JSON boolean expected"
    if type_code in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            return "JSON integer expected"
        lowest = INTEGER_TYPES[type_code]
        if lowest is not None and value < lowest:
            return f"must be at least {lowest}"
        return None if -2**31 <= value < 2**31 else "out of the 32-bit range"
    if type_code == "decimal":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "JSON number expected"
    if not isinstance(value, str):
        return "JSON string expected"
    if type_code in _TEXT_TYPES:
        return None if value.strip(" \r\n\t") else "empty or blank text"
    pattern = _COMPILED.get(type_code)
    if pattern is not None and not pattern.fullmatch(value):
        return f"not a valid {type_code}"
    if type_code in ("date", "dateTime", "instant") and len(value) >= 10:
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return "not a calendar date"
    return None
