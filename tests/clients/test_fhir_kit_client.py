"""fhir-kit-client (npm), the library of DUI software written in JavaScript, run by Node.

The program is tests/clients/js/scenario.mjs; its dependencies are pinned by the committed
package-lock.json and installed by the test command (npm ci).
"""
from __future__ import annotations

import json
import shutil
import subprocess

from tests.clients.producer_session import assert_session_report
from tests.hapi_server import ROOT

JS_CLIENT = ROOT / "tests" / "clients" / "js"


def test_fhir_kit_client_session(producer_session):
    node = shutil.which("node")
    assert node, "Node.js is not installed (.ci/run installs it)"
    assert (JS_CLIENT / "node_modules" / "fhir-kit-client").is_dir(), \
        "fhir-kit-client is not installed: run the tests with scripts/test (npm ci)"
    done = subprocess.run([node, str(JS_CLIENT / "scenario.mjs"), *producer_session.program_arguments()],
                          capture_output=True, text=True, timeout=300, cwd=JS_CLIENT)
    assert done.returncode == 0, done.stderr[-4000:]
    assert_session_report(json.loads(done.stdout), producer_session)
