"""FHIR R4 primitive values in JSON: what the R4 StructureDefinitions do not say.

The lexical rule of each primitive type is its definition's regex
(``R4Model.primitives``). These are the remaining rules, with their reason:
- the JSON type of a value (R4 json.html: boolean, the integer types and
  decimal are JSON numbers or booleans, every other primitive a JSON string);
  the definitions type positiveInt and unsignedInt as ``System.String``;
- the 32-bit range of the integer types (said in datatypes.html text only);
- a calendar date is a real date (a regex cannot tell 2023-02-30 apart);
- no string value is empty (json.html: "values can never be empty"), even
  where the regex allows it (``uri``: ``\\S*``);
- string, markdown and xhtml are not blank (the regex ``[ \\r\\n\\t\\S]+`` is
  XML Schema's, where leading and trailing white space is collapsed away).
"""
from __future__ import annotations

from datetime import date

from gateway.conformance.r4_model import PrimitiveSpec

INTEGER_TYPES = frozenset({"integer", "unsignedInt", "positiveInt"})
_TEXT_TYPES = frozenset({"string", "markdown", "xhtml"})
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})


def primitive_problem(spec: PrimitiveSpec, value) -> str | None:
    """Why ``value`` is not a valid JSON value of the primitive type (None when it is)."""
    type_code = spec.code
    if type_code == "boolean":
        return None if isinstance(value, bool) else "JSON boolean expected"
    if type_code in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            return "JSON integer expected"
        if spec.regex is not None and not spec.regex.fullmatch(str(value)):
            return f"not a valid {type_code}"
        return None if -2**31 <= value < 2**31 else "out of the 32-bit range"
    if type_code == "decimal":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "JSON number expected"
    if not isinstance(value, str):
        return "JSON string expected"
    if not value:
        return "empty string"
    if type_code in _TEXT_TYPES:
        return None if value.strip(" \r\n\t") else "empty or blank text"
    if spec.regex is not None and not spec.regex.fullmatch(value):
        return f"not a valid {type_code}"
    if type_code in _DATE_TYPES and len(value) >= 10:
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return "not a calendar date"
    return None


def _date_precision(value: str) -> int:
    """4 (year), 7 (month), 10 (day) or 11 (a time of day) characters of a date, dateTime or instant."""
    return min(len(value), 11)


def unordered_precisions(first: str, second: str) -> bool:
    """Two dates of different precisions that agree as far as the coarser goes (``2023-04-14`` and
    ``2023-04-14T12:00:00+01:00``): FHIRPath's comparison of them is empty."""
    precisions = _date_precision(first), _date_precision(second)
    coarser = min(precisions)
    return precisions[0] != precisions[1] and first[:coarser] == second[:coarser]
