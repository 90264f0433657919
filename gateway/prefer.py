"""``Prefer: return=minimal | representation | OperationOutcome`` on the transaction (FHIR http.html,
"Managing Return Content").

The answer always holds one entry per entry sent, in order, each with its
``response`` (``status``, ``location``, ``etag``, ``lastModified``). What else
an entry carries follows the producer's preference:

- ``representation``, also when none is given (the answer producers always had): the stored resource;
- ``minimal``: nothing else;
- ``OperationOutcome``: ``response.outcome``, the gateway's own, saying what became of the entry.

HAPI's own per-entry outcome (English, with its timings) is never passed on;
its storage code (a message id) says whether an update changed anything.
HAPI is asked for the stored resources only when the producer wants them.
"""
from __future__ import annotations

from werkzeug.http import parse_dict_header

from gateway.outcome import entry_outcome

REPRESENTATION, MINIMAL, OPERATION_OUTCOME = "representation", "minimal", "OperationOutcome"
RETURN_VALUES = {value.lower(): value for value in (REPRESENTATION, MINIMAL, OPERATION_OUTCOME)}
HAPI_STORAGE_CODES = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"


def requested(prefer: str | None) -> str:
    """The ``return`` preference; an absent or unknown one is ``representation`` (a preference may be ignored)."""
    preferences = {name.strip().lower(): value for name, value in parse_dict_header(prefer or "").items()}
    return RETURN_VALUES.get((preferences.get("return") or "").strip().lower(), REPRESENTATION)


def shape(response: dict, preference: str, language: str) -> dict:
    """The transaction-response as the producer asked for it."""
    return {**response, "entry": [shape_entry(entry, preference, language) for entry in response.get("entry") or []]}


def shape_entry(entry: dict, preference: str, language: str) -> dict:
    answered = {key: value for key, value in (entry.get("response") or {}).items() if key != "outcome"}
    if preference == OPERATION_OUTCOME:
        answered["outcome"] = entry_outcome(answered.get("status", ""), answered.get("location"),
                                            unchanged=storage_code(entry).endswith("NO_CHANGE"), language=language)
    kept = {key: value for key, value in entry.items()
            if key != "response" and (key != "resource" or preference == REPRESENTATION)}
    return {**kept, "response": answered}


def storage_code(entry: dict) -> str:
    """HAPI's code for what it did with the entry (``SUCCESSFUL_UPDATE_NO_CHANGE``…), '' when it gave none."""
    outcome = (entry.get("response") or {}).get("outcome") or {}
    for issue in outcome.get("issue") or []:
        for coding in (issue.get("details") or {}).get("coding") or []:
            if coding.get("system") == HAPI_STORAGE_CODES and isinstance(coding.get("code"), str):
                return coding["code"]
    return ""
