"""A release is data: a synthetic TDDUI release, built here from a copy of the 2.0.0 package with
an Observation and a Practitioner profile added (each with a business-identifier slice, a Bundle
entry slice and ``read`` in TDDUIConsommateur) and a test descriptor naming those slices, runs
through the unchanged gateway and HAPI: judged, stored by upsert within the legal entity, read back
in scope, 404 and 403 outside it."""
from __future__ import annotations

import copy
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.auth import hash_api_key
from gateway.descriptor import DESCRIPTOR_DIR
from gateway.packages import PackageSet
from tests.cases import RELEASE_2_0_0, TDDUI, package_dir, release_example
from tests.conftest import TEST_API_KEY, freshen
from tests.hapi_server import HapiServer

SYNTHETIC_VERSION = "2.0.1-synthetic"
SYNTHETIC = f"ans.fhir.fr.tddui#{SYNTHETIC_VERSION}"
NEW_TYPES = ("Observation", "Practitioner")
SLICE = "idTest"
OTHER_PRODUCER_KEY = "another-producer-key"
FHIR_JSON = "application/fhir+json"


def identifier_system(resource_type: str) -> str:
    return f"https://example.org/tddui-test/{resource_type.lower()}"


def profile_id(resource_type: str) -> str:
    return f"tddui-test-{resource_type.lower()}"


def profile_with_identifier_slice(base: dict, identifier_type: dict) -> dict:
    """A constraint on an R4 resource whose ``identifier`` has one slice, by system (snapshot written out)."""
    kind = base["type"]
    elements = []
    for element in base["snapshot"]["element"]:
        element = copy.deepcopy(element)
        elements.append(element)
        if element["id"] != f"{kind}.identifier":
            continue
        element["slicing"] = {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}
        elements.append({**copy.deepcopy(element), "id": f"{kind}.identifier:{SLICE}", "sliceName": SLICE})
        elements[-1].pop("slicing")
        for child in identifier_type["snapshot"]["element"][1:]:
            child = copy.deepcopy(child)
            name = child["path"].partition(".")[2]
            child.update(id=f"{kind}.identifier:{SLICE}.{name}", path=f"{kind}.identifier.{name}")
            if name == "system":
                child.update(min=1, patternUri=identifier_system(kind))
            if name == "value":
                child["min"] = 1
            elements.append(child)
    definition = {key: base[key] for key in ("resourceType", "fhirVersion", "kind", "abstract", "type")}
    return {**definition, "id": profile_id(kind), "url": TDDUI + profile_id(kind), "version": SYNTHETIC_VERSION,
            "name": f"TDDUITest{kind}", "status": "draft", "derivation": "constraint", "baseDefinition": base["url"],
            "snapshot": {"element": elements},
            "differential": {"element": [e for e in elements if e["id"].startswith(f"{kind}.identifier")]}}


def bundle_with_entry_slices(bundle_profile: dict, profiles: list[dict]) -> dict:
    """TDDUIBundle with one entry slice per new profile, copied from the DUIOrganization slice."""
    elements = bundle_profile["snapshot"]["element"]
    template = [e for e in elements if e["id"].startswith("Bundle.entry:DUIOrganization")]
    last = max(i for i, e in enumerate(elements) if e["id"].startswith("Bundle.entry:"))
    added = []
    for profile in profiles:
        slice_name = f"DUITest{profile['type']}"
        for element in copy.deepcopy(template):
            element["id"] = element["id"].replace("DUIOrganization", slice_name)
            if element.get("sliceName") == "DUIOrganization":
                element["sliceName"] = slice_name
            if element["id"] == f"Bundle.entry:{slice_name}.resource":
                element["type"] = [{"code": profile["type"], "profile": [profile["url"]]}]
            added.append(element)
    return {**bundle_profile, "snapshot": {"element": elements[:last + 1] + added + elements[last + 1:]}}


def synthetic_package(target: Path) -> None:
    """The 2.0.0 package relabelled SYNTHETIC_VERSION, with the new profiles, entry slices and reads."""
    source = PackageSet.from_directory(package_dir(), [RELEASE_2_0_0])
    profiles = [profile_with_identifier_slice(source.get(f"http://hl7.org/fhir/StructureDefinition/{kind}"),
                                              source.get("http://hl7.org/fhir/StructureDefinition/Identifier"))
                for kind in NEW_TYPES]
    package = source.package(RELEASE_2_0_0)
    with tarfile.open(package.path, "r:gz") as original, tarfile.open(target, "w:gz") as copy_:
        files = {}
        for member in original:
            if member.isfile():
                files[member.name] = json.loads(original.extractfile(member).read())
        for content in files.values():
            if isinstance(content, dict) and content.get("version") == "2.0.0":
                content["version"] = SYNTHETIC_VERSION
            for row in content.get("files", []) if isinstance(content, dict) else []:
                if row.get("version") == "2.0.0":
                    row["version"] = SYNTHETIC_VERSION
        bundle_name = "package/StructureDefinition-tddui-bundle.json"
        files[bundle_name] = bundle_with_entry_slices(files[bundle_name], profiles)
        consumer = files["package/CapabilityStatement-TDDUIConsommateur.json"]
        consumer["rest"][0]["resource"] += [{"type": p["type"], "supportedProfile": [p["url"]],
                                             "interaction": [{"code": "read"}]} for p in profiles]
        for profile in profiles:
            name = f"package/StructureDefinition-{profile['id']}.json"
            files[name] = profile
            files["package/.index.json"]["files"].append({
                "filename": name.rpartition("/")[2], "resourceType": "StructureDefinition", "id": profile["id"],
                "url": profile["url"], "version": SYNTHETIC_VERSION, "kind": "resource", "type": profile["type"]})
        for name, content in files.items():
            data = json.dumps(content, ensure_ascii=False).encode("utf-8")
            member = tarfile.TarInfo(name)
            member.size = len(data)
            copy_.addfile(member, io.BytesIO(data))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Path]:
    """(package directory, descriptor directory) of the synthetic release."""
    root = tmp_path_factory.mktemp("synthetic")
    packages = root / "packages"
    (packages / "hl7").mkdir(parents=True)
    for path in package_dir().rglob("*.tgz"):
        if not path.name.startswith("ans.fhir.fr.tddui-"):
            (packages / path.relative_to(package_dir())).symlink_to(path)
    synthetic_package(packages / f"ans.fhir.fr.tddui-{SYNTHETIC_VERSION}.tgz")
    descriptors = root / "descriptors"
    descriptors.mkdir()
    document = (DESCRIPTOR_DIR / "ans.fhir.fr.tddui-2.0.0.toml").read_text(encoding="utf-8")
    document = document.replace(RELEASE_2_0_0 + '"', SYNTHETIC + '"')
    for kind in NEW_TYPES:
        document += f'\n[receipt.{kind}]\nslices = [{{ profile = "{profile_id(kind)}", slice = "{SLICE}" }}]\n'
    (descriptors / f"ans.fhir.fr.tddui-{SYNTHETIC_VERSION}.toml").write_text(document, encoding="utf-8")
    return packages, descriptors


@pytest.fixture(scope="module")
def synthetic_hapi(synthetic, tmp_path_factory):
    """HAPI loaded with the synthetic release, for this module only (one JVM fewer afterwards)."""
    server = HapiServer(tmp_path_factory.mktemp("hapi-synthetic"),
                        extra_env={"TDDUI_IG": SYNTHETIC, "FHIR_PACKAGE_DIR": str(synthetic[0])})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def synthetic_app(settings, synthetic, synthetic_hapi):
    packages, descriptors = synthetic
    hapi = synthetic_hapi
    producers = json.loads(settings.producers_json)["producers"] + [
        {"id": "another-dui", "api_key_sha256": [hash_api_key(OTHER_PRODUCER_KEY)], "finess": ["970099999"]}]
    return create_app(replace(settings, implementation_guide=SYNTHETIC, package_dir=packages,
                              descriptor_dir=descriptors, hapi_base_url=hapi.base_url,
                              producers_json=json.dumps({"producers": producers})))


def client(app, key: str = TEST_API_KEY):
    test_client = app.test_client()
    test_client.environ_base["HTTP_X_API_KEY"] = key
    return test_client


def with_new_types(bundle: dict, number: int) -> dict:
    """The 2.0.0 example plus an Observation on its patient and a Practitioner, each with its business identifier."""
    patient_url = bundle["entry"][0]["fullUrl"]
    new = {
        "Observation": {"resourceType": "Observation", "meta": {"profile": [TDDUI + profile_id("Observation")]},
                        "identifier": [{"system": identifier_system("Observation"), "value": f"OBS-{number}"}],
                        "status": "final", "code": {"text": "repas"}, "subject": {"reference": patient_url}},
        "Practitioner": {"resourceType": "Practitioner", "meta": {"profile": [TDDUI + profile_id("Practitioner")]},
                         "identifier": [{"system": identifier_system("Practitioner"), "value": f"PS-{number}"}],
                         "name": [{"family": "Martin"}]},
    }
    for kind, resource in new.items():
        bundle["entry"].append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{number:06d}{len(bundle['entry']):06d}",
                                "resource": resource, "request": {"method": "POST", "url": kind}})
    return bundle


def answered(answer) -> list[tuple[str, str, str]]:
    return [(e["resource"]["resourceType"], e["response"]["status"], e["resource"]["meta"]["versionId"])
            for e in answer.get_json()["entry"]]


def test_the_synthetic_release_is_described_from_its_package_and_descriptor(synthetic_app):
    statement = client(synthetic_app).get("/metadata", headers={"Accept": FHIR_JSON}).get_json()
    readable = {r["type"] for r in statement["rest"][0]["resource"] if r.get("interaction")}
    assert readable >= {"Patient", "Organization", "Encounter", *NEW_TYPES}
    assert client(synthetic_app).get("/readyz").status_code == 200


def test_new_types_are_judged_by_their_profiles(synthetic_app):
    bundle = with_new_types(freshen(release_example(RELEASE_2_0_0)), 1)
    del bundle["entry"][3]["resource"]["identifier"][0]["value"]
    answer = client(synthetic_app).post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert answer.status_code == 422
    assert "Bundle.entry[3].resource.identifier[0].value" in {
        i["expression"][0] for i in answer.get_json()["issue"] if i["severity"] == "error"}


def test_new_types_are_stored_by_upsert_and_read_back_in_scope_only(synthetic_app):
    gateway = client(synthetic_app)
    bundle = with_new_types(freshen(release_example(RELEASE_2_0_0)), 2)

    first = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert answered(first) == [(e["resource"]["resourceType"], "201 Created", "1") for e in bundle["entry"]]

    resend = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert answered(resend) == [(e["resource"]["resourceType"], "200 OK", "1") for e in bundle["entry"]]

    bundle["entry"][3]["resource"]["status"] = "amended"
    changed = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert [version for _, _, version in answered(changed)] == ["1", "1", "1", "2", "1"]
    ids = [e["resource"]["id"] for e in first.get_json()["entry"]]
    assert [e["resource"]["id"] for e in changed.get_json()["entry"]] == ids

    outsider = client(synthetic_app, OTHER_PRODUCER_KEY)
    for kind, resource_id in zip(("Observation", "Practitioner"), ids[3:]):
        read = gateway.get(f"/{kind}/{resource_id}", headers={"Accept": FHIR_JSON})
        assert read.status_code == 200 and read.get_json()["identifier"][0]["system"] == identifier_system(kind)
        assert gateway.get(f"/{kind}/{resource_id}/_history/1").status_code == 200
        assert outsider.get(f"/{kind}/{resource_id}").status_code == 404


def test_new_types_are_refused_outside_the_producers_legal_entities(synthetic_app):
    bundle = with_new_types(freshen(release_example(RELEASE_2_0_0)), 3)
    answer = client(synthetic_app, OTHER_PRODUCER_KEY).post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert answer.status_code == 403


def test_a_new_type_without_business_identifier_is_a_plain_create(synthetic_app):
    bundle = with_new_types(freshen(release_example(RELEASE_2_0_0)), 4)
    del bundle["entry"][3]["resource"]["identifier"]
    gateway = client(synthetic_app)
    first = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    again = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert answered(first)[3] == answered(again)[3] == ("Observation", "201 Created", "1")
    assert first.get_json()["entry"][3]["resource"]["id"] != again.get_json()["entry"][3]["resource"]["id"]
    assert answered(again)[4] == ("Practitioner", "200 OK", "1")
