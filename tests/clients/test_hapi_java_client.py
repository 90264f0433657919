"""HAPI FHIR's Java client (IGenericClient 8.8.0), the library of DUI software written in Java.

The program is tests/clients/java (built by the test command, from the launcher's HAPI
artifacts); it runs the session with the client's defaults (JSON bodies, an Accept that ties XML
and JSON and lists the legacy media types), with JSON, with XML, and with the request body
gzip-compressed by the client's own GZipContentInterceptor.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.clients.producer_session import assert_session_report
from tests.hapi_server import ROOT

JAVA_CLIENT = ROOT / "tests" / "clients" / "java" / "target"
MAIN_CLASS = "fr.tddui.clients.HapiClientScenario"
# The client's own default is 10 s, less than a cold HAPI's first validation may take.
SOCKET_TIMEOUT_S = 120


def run_java_client(producer_session, encoding: str, gzip: bool) -> dict:
    classpath_file = JAVA_CLIENT / "classpath.txt"
    assert classpath_file.exists(), "the Java client is not built: run the tests with scripts/test"
    classpath = f"{JAVA_CLIENT / 'classes'}:{classpath_file.read_text().strip()}"
    command = ["java", "-cp", classpath, MAIN_CLASS, *producer_session.program_arguments(), "--encoding", encoding,
               "--timeout-seconds", str(SOCKET_TIMEOUT_S), *(["--gzip"] if gzip else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("encoding, gzip, content_type", [
    ("default", False, "application/fhir+json"),
    ("json", False, "application/fhir+json"),
    ("xml", False, "application/fhir+xml"),
    ("json", True, "application/fhir+json"),
], ids=["default", "json", "xml", "json-gzip"])
def test_hapi_generic_client_session(producer_session, encoding, gzip, content_type):
    report = run_java_client(producer_session, encoding, gzip)
    assert_session_report(report, producer_session)
    posts = [exchange for exchange in report["exchanges"] if exchange["method"] == "POST"]
    assert len(posts) == 2, report["exchanges"]
    for post in posts:
        assert post["headers"]["Content-Type"].startswith(content_type)
        assert post["headers"].get("Content-Encoding") == ("gzip" if gzip else None)
    # Every answer in the format asked for; by default the client's Accept ties XML and JSON.
    answered = {exchange["answerMimeType"] for exchange in report["exchanges"] if exchange["status"] != 304}
    assert answered == {content_type}, report["exchanges"]
