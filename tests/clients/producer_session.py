"""The producer's session every client library runs, and the checks its report must pass.

A client reports, as a dict (the programs in Java and JavaScript print it as JSON):

* ``capability``: ``resourceType`` and ``fhirVersion`` of what ``GET /metadata`` gave it;
* ``transaction``: per answer entry, its ``status``, ``location`` and ``etag``;
* ``reads``, ``vreads``: per answer entry, ``resourceType``, ``id`` and ``versionId`` of the
  resource read at the entry's location (read by type and id, vread by its version);
* ``not_modified``: whether a read of the first resource with the ETag it was given came back
  304 (however the library surfaces it);
* ``refusal``: ``status`` of the refused transaction and its OperationOutcome's ``issues``
  (``severity``, ``code``, ``expression`` list, ``rules``: the ``details.coding`` codes).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests.cases import Case

LOCATION = re.compile(r"(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})/_history/(?P<version>[0-9]+)")
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class ProducerSession:
    base_url: str
    api_key: str
    accepted: dict          # the IG example, with business identifiers no other test uses
    refused: dict           # a bundle the gateway refuses
    refused_case: Case      # what that refusal must say
    accepted_path: Path
    refused_path: Path

    @classmethod
    def write(cls, directory: Path, base_url: str, api_key: str, accepted: dict, refused: dict,
              refused_case: Case) -> "ProducerSession":
        accepted_path, refused_path = directory / "accepted.json", directory / "refused.json"
        accepted_path.write_text(json.dumps(accepted))
        refused_path.write_text(json.dumps(refused))
        return cls(base_url, api_key, accepted, refused, refused_case, accepted_path, refused_path)

    def program_arguments(self) -> list[str]:
        """The session as command-line arguments of the Java and JavaScript programs."""
        return ["--base", self.base_url.rstrip("/"), "--header", f"{API_KEY_HEADER}={self.api_key}",
                "--accepted", str(self.accepted_path), "--refused", str(self.refused_path)]


def assert_session_report(report: dict, producer_session: ProducerSession) -> None:
    """Everything a producer's library must have seen, whatever its language."""
    assert report["capability"] == {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}

    sent_types = [entry["resource"]["resourceType"] for entry in producer_session.accepted["entry"]]
    answered = report["transaction"]
    locations = [LOCATION.fullmatch(entry["location"] or "") for entry in answered]
    assert all(locations), answered
    assert [location["type"] for location in locations] == sent_types, "one answer entry per entry sent, in order"
    for entry, location, read, vread in zip(answered, locations, report["reads"], report["vreads"], strict=True):
        assert entry["status"].startswith("201"), entry
        # HAPI writes a transaction entry's etag as the bare version (test_receipt.py takes both).
        assert location["version"] == "1" and entry["etag"] in ('W/"1"', "1"), entry
        stored = {"resourceType": location["type"], "id": location["id"], "versionId": "1"}
        assert read == stored
        assert vread == stored

    assert report["not_modified"] is True

    refusal, case = report["refusal"], producer_session.refused_case
    assert refusal["status"] == case.status, refusal
    assert any(issue["severity"] == case.severity and issue["code"] == case.code
               and case.expression in issue["expression"] and issue["rules"]
               for issue in refusal["issues"]), refusal
