"""``tddui-gateway validate``: exit status, one line per issue, JSON output."""
import json

import pytest

from gateway.cli import main
from tests.cases import CASES, load_examples, package_dir


@pytest.fixture(autouse=True)
def packages_env(monkeypatch):
    monkeypatch.setenv("FHIR_PACKAGE_DIR", str(package_dir()))


def write(tmp_path, name, case_id):
    case = next(case for case in CASES if case.id == case_id)
    path = tmp_path / name
    path.write_bytes(case.body(load_examples()))
    return path


def test_valid_file_exits_0(tmp_path, capsys):
    path = write(tmp_path, "v1.json", "V1")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{path}: valide")


def test_invalid_file_exits_1_with_a_line_naming_file_entry_and_element(tmp_path, capsys):
    good, bad = write(tmp_path, "v1.json", "V1"), write(tmp_path, "i34.json", "I34")
    assert main(["validate", str(good), str(bad), "--lang", "en"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{bad}: entry 2: resource.subject.reference: error: Reference 'Patient/does-not-exist' matches no entry " \
           f"of the Bundle (fullUrl or Type/id). [BR-REFERENCE-IN-BUNDLE]" in lines
    assert lines[-1] == f"{bad}: invalid"


def test_not_json_is_reported_not_raised(tmp_path, capsys):
    path = write(tmp_path, "i02.json", "I02")
    assert main(["validate", str(path)]) == 1
    assert "n'est pas un JSON valide" in capsys.readouterr().out


def test_json_format_prints_the_operation_outcome(tmp_path, capsys):
    path = write(tmp_path, "i38.json", "I38")
    assert main(["validate", str(path), "--format", "json", "--lang", "en"]) == 1
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["resourceType"] == "OperationOutcome"
    per_1 = [i for i in outcome["issue"] if i["details"]["coding"][0]["code"] == "per-1"]
    assert per_1 and per_1[0]["expression"] == ["Bundle.entry[2].resource.period"]
    assert per_1[0]["diagnostics"].startswith("Constraint per-1 failed")


def test_engine_that_cannot_start_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FHIR_PACKAGE_DIR", str(tmp_path / "nowhere"))
    assert main(["validate", str(write(tmp_path, "v1.json", "V1"))]) == 2
    assert "cannot start the conformance engine" in capsys.readouterr().err


@pytest.mark.parametrize("variable, value, rule", [
    ("GATEWAY_MAX_ENTRIES", "2", "gateway-entry-count"),
    ("GATEWAY_MAX_BODY_BYTES", "1000", "gateway-body-size"),
    ("GATEWAY_MAX_JSON_DEPTH", "4", "gateway-json-depth"),
])
def test_the_intake_limits_of_the_environment_apply(tmp_path, capsys, monkeypatch, variable, value, rule):
    path = write(tmp_path, "v1.json", "V1")
    monkeypatch.setenv(variable, value)
    assert main(["validate", str(path), "--lang", "en"]) == 1
    assert f"[{rule}]" in capsys.readouterr().out


def test_validate_works_from_any_folder_with_the_default_package_directory(tmp_path, monkeypatch, capsys):
    write(tmp_path, "v1.json", "V1")
    monkeypatch.delenv("FHIR_PACKAGE_DIR")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "v1.json"]) == 0
    assert capsys.readouterr().out.strip().endswith("v1.json: valide")


def test_a_missing_package_directory_says_how_to_fix_it(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "v1.json", "V1")
    monkeypatch.setenv("FHIR_PACKAGE_DIR", str(tmp_path / "nowhere"))
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert "nowhere does not exist" in error and "set FHIR_PACKAGE_DIR" in error


def test_rules_prints_the_compiled_rules_as_json(capsys):
    assert main(["rules"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert rules["package"] == "ans.fhir.fr.tddui#2.0.0-ballot"
    assert "hl7.fhir.r4.core#4.0.1" in rules["closure"]
    assert {r["id"] for r in rules["business_rules"]} >= {"BR-EMPTY", "BR-CREATE-ONLY", "BR-INS-PROFILE"}
    sejour = rules["profiles"]["https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-encounter-sejour"]
    assert any(row["id"] == "Encounter.status" and "binding" in row for row in sejour)


def test_ig_chooses_the_release_for_validate_and_rules(tmp_path, capsys):
    """--ig overrides TDDUI_IG (here the suite's ballot): a claim of 2.0.0 is refused by the ballot only."""
    bundle = json.loads(write(tmp_path, "v1.json", "V1").read_text(encoding="utf-8"))
    bundle["meta"]["profile"] = [url + "|2.0.0" for url in bundle["meta"]["profile"]]
    path = tmp_path / "claims-2.0.0.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert main(["validate", str(path), "--lang", "en"]) == 1
    assert "[gateway-profile-version]" in capsys.readouterr().out
    assert main(["validate", "--ig", "ans.fhir.fr.tddui#2.0.0", str(path)]) == 0
    capsys.readouterr()
    assert main(["rules", "--ig", "ans.fhir.fr.tddui#2.0.0"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert rules["package"] == "ans.fhir.fr.tddui#2.0.0" and rules["success"]["status_when_created"] == 200
