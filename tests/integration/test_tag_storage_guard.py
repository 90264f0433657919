"""HAPI refuses to start with tags stored INLINE on a database that holds tags stored the other way.

Such a database keeps each record's legal-entity tag in HAPI's tag tables,
which INLINE never reads: no stored record would match the gateway's
conditional URLs any more, and every resend would store a second copy. The
plug-in stops HAPI's start-up instead (hapi-config/application.yaml,
tddui.hapi.tag-storage-mode).
"""
from __future__ import annotations

import pytest
import requests

from gateway.receipt import LEGAL_ENTITY_TAG_SYSTEM
from tests.hapi_server import HapiServer


def test_an_inline_start_on_a_database_with_table_tags_fails_and_names_the_way_out(tmp_path):
    overlay = tmp_path / "versioned.yaml"
    overlay.write_text("tddui:\n  hapi:\n    tag-storage-mode: VERSIONED\n"
                       "hapi:\n  fhir:\n    mass_ingestion_mode_enabled: false\n", encoding="utf-8")
    hapi = HapiServer(tmp_path, extra_env={"SPRING_CONFIG_ADDITIONAL_LOCATION": f"file:{overlay}"})
    try:
        hapi.start()
        stored = requests.post(f"{hapi.base_url}/Patient", timeout=60, json={
            "resourceType": "Patient", "meta": {"tag": [{"system": LEGAL_ENTITY_TAG_SYSTEM, "code": "1999999999"}]},
            "name": [{"family": "Avant"}]}, headers={"Content-Type": "application/fhir+json"})
        assert stored.status_code == 201, stored.text
        hapi.stop()

        del hapi.env["SPRING_CONFIG_ADDITIONAL_LOCATION"]   # the shared yaml as it is: INLINE
        with pytest.raises(RuntimeError) as failed:
            hapi.start()
        assert "tag-storage-mode is INLINE but this database holds" in str(failed.value)
        assert "Start on a new database" in str(failed.value)
    finally:
        hapi.stop()
