"""Package loading as FHIR tools do it, the IG-version descriptor, and HAPI's
configuration kept equal to both."""
from __future__ import annotations

import io
import json
import logging
import re
import tarfile
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.conformance import ConformanceEngine
from gateway.descriptor import DESCRIPTOR_DIR, described_releases, load_descriptor
from gateway.packages import PackageSet, nearest_version, read_package
from tests.cases import HAPI_YAML, SUITE_RELEASE, TDDUI, hapi_config, package_dir, v1

IG = SUITE_RELEASE
# hapi-config/application.yaml names the release's package through this placeholder
TDDUI_VERSION_PLACEHOLDER = re.compile(r"\$\{TDDUI_VERSION:([^}]*)\}")


@pytest.fixture(scope="module")
def packages() -> PackageSet:
    return PackageSet.from_directory(package_dir(), [IG])


@pytest.fixture(scope="module")
def descriptor(packages):
    return load_descriptor(IG, packages)


def hapi_package_files(release: str) -> dict[str, str]:
    """name#version -> file (relative to FHIR_PACKAGE_DIR) of every package HAPI reads for ``release``."""
    config = hapi_config(release)
    guides = config["hapi"]["fhir"]["implementationguides"].values()
    version = release.partition("#")[2]
    for guide in guides:  # the name and version HAPI announces are those of the file it installs
        declared = read_package(package_dir() / _relative(guide["packageUrl"], version))
        assert declared.id == f"{guide['name']}#{TDDUI_VERSION_PLACEHOLDER.sub(version, str(guide['version']))}"
    urls = [guide["packageUrl"] for guide in guides] + config["tddui"]["hapi"]["validation-packages"]
    found = {}
    for url in urls:
        relative = _relative(url, version)
        found[read_package(package_dir() / relative).id] = relative
    return found


def _relative(url: str, tddui_version: str) -> str:
    return TDDUI_VERSION_PLACEHOLDER.sub(tddui_version, re.sub(r"^file://\$\{FHIR_PACKAGE_DIR:[^}]*\}/", "", url))


# ------------------------------------------------------------------ closure
def test_the_closure_follows_the_declared_dependencies_with_the_nearest_versions(packages, caplog):
    assert list(packages.packages) == [
        IG, "hl7.fhir.r4.core#4.0.1", "hl7.terminology.r4#7.0.1", "hl7.fhir.fr.core#2.1.0",
        "ans.fr.terminologies#1.2.0", "hl7.fhir.uv.extensions.r4#5.3.0-ballot-tc1"]
    with caplog.at_level(logging.WARNING, logger="gateway.packages"):
        PackageSet.from_directory(package_dir(), [IG])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # one per package, however many packages declare it
    assert any("hl7.terminology.r4" in w and "6.5.0" in w and "6.0.2" in w and "7.0.1" in w for w in warnings)
    assert any("hl7.fhir.uv.extensions.r4" in w and "5.2.0" in w and "5.3.0-ballot-tc1" in w for w in warnings)
    assert any("ans.fr.nos" in w and "not in" in w for w in warnings)


def test_nearest_version():
    assert nearest_version("6.5.0", ["5.0.0", "7.0.1"]) == "7.0.1"
    assert nearest_version("5.2.0", ["5.3.0-ballot-tc1", "4.0.0"]) == "5.3.0-ballot-tc1"
    assert nearest_version("2.1.0", ["2.0.0", "2.2.0"]) == "2.2.0"


def test_packages_without_an_index_are_indexed_on_load(packages):
    terminology = packages.package("hl7.terminology.r4#7.0.1")
    assert terminology._index_json is None  # the registry's package has no .index.json
    assert len(terminology.index) > 4000
    value_set = packages.get("http://terminology.hl7.org/ValueSet/v3-ActEncounterCode")
    assert value_set["resourceType"] == "ValueSet"
    assert packages.get("http://hl7.org/fhir/StructureDefinition/structuredefinition-imposeProfile")["type"] == "Extension"


def test_canonicals_resolve_version_aware_and_the_dependant_package_wins(packages):
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert packages.get(gender + "|4.0.1")["version"] == "4.0.1"
    # R4 core carries an older copy of many THO value sets: the terminology package, which depends on it, wins
    act_code = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
    assert packages.get(act_code)["version"] == packages.package("hl7.terminology.r4#7.0.1") \
        .resource(next(e.filename for e in packages.package("hl7.terminology.r4#7.0.1").index if e.url == act_code))["version"]


def _variant(tmp_path: Path, version: str, change) -> Path:
    """A copy of the TDDUI package relabelled ``version``, one profile changed by ``change``."""
    source = package_dir() / "ans.fhir.fr.tddui-2.0.0-ballot.tgz"
    target = tmp_path / f"ans.fhir.fr.tddui-{version}.tgz"
    with tarfile.open(source, "r:gz") as original, tarfile.open(target, "w:gz") as copy_:
        for member in original:
            data = original.extractfile(member).read() if member.isfile() else None
            if member.name == "package/package.json":
                manifest = json.loads(data)
                manifest["version"] = version
                data = json.dumps(manifest).encode()
            elif member.name == "package/StructureDefinition-tddui-encounter-sejour.json":
                definition = json.loads(data)
                change(definition)
                data = json.dumps(definition).encode()
            if data is not None:
                member.size = len(data)
                copy_.addfile(member, io.BytesIO(data))
            else:
                copy_.addfile(member)
    return target


def _period_required(definition: dict) -> None:
    for element in definition["snapshot"]["element"]:
        if element["id"] == "Encounter.period":
            element["min"] = 1


def _directory_with(tmp_path: Path, extra: Path) -> Path:
    """The shared package directory (symlinked, hl7/ included) plus ``extra``."""
    directory = tmp_path / "packages"
    (directory / "hl7").mkdir(parents=True)
    for path in package_dir().rglob("*.tgz"):
        (directory / path.relative_to(package_dir())).symlink_to(path)
    extra.rename(directory / extra.name)
    return directory


@pytest.fixture(scope="module")
def variant_directory(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("variant")
    return _directory_with(tmp_path, _variant(tmp_path, "2.2.0", _period_required))


def test_a_second_tddui_package_outside_the_closure_is_ignored(variant_directory, examples):
    packages = PackageSet.from_directory(variant_directory, [IG])
    assert "ans.fhir.fr.tddui#2.2.0" not in packages.packages
    engine = ConformanceEngine(packages, load_descriptor(IG, packages))
    bundle = v1(examples)
    del bundle["entry"][2]["resource"]["period"]
    assert engine.judge(bundle).accepted  # 2.0.0-ballot: period 0..1, the 2.2.0 copy does not shadow it


def test_a_second_descriptor_and_package_variant_apply_their_own_rules(variant_directory, tmp_path, examples):
    variant = "ans.fhir.fr.tddui#2.2.0"
    document = (DESCRIPTOR_DIR / "ans.fhir.fr.tddui-2.0.0-ballot.toml").read_text(encoding="utf-8")
    document = document.replace('package = "ans.fhir.fr.tddui#2.0.0-ballot"', f'package = "{variant}"')
    document = document.replace('"ans.fhir.fr.tddui#2.0.0-ballot",', f'"{variant}",')
    # the variant's own business rule, as FHIRPath: every Encounter names its service provider
    document += ('\n[[business_rules]]\nid = "BR-VARIANT"\nsummary = "s"\nsource = "test"\ncontext = "entry"\n'
                 'expression = "resource.ofType(Encounter).all(serviceProvider.exists())"\nfr = "f"\nen = "e"\n')
    descriptors = tmp_path / "descriptors"
    descriptors.mkdir()
    (descriptors / "ans.fhir.fr.tddui-2.2.0.toml").write_text(document, encoding="utf-8")
    packages = PackageSet.from_directory(variant_directory, [variant])
    assert variant in packages.packages and IG not in packages.packages
    engine = ConformanceEngine(packages, load_descriptor(variant, packages, descriptors))
    bundle = v1(examples)
    del bundle["entry"][2]["resource"]["period"]
    verdict = engine.judge(bundle)
    assert ("Bundle.entry[2].resource.period", "Encounter.period") in {
        (i.expression, i.rule) for i in verdict.issues if i.blocking}
    without_provider = v1(examples)
    del without_provider["entry"][2]["resource"]["serviceProvider"]
    assert "BR-VARIANT" in {i.rule for i in engine.judge(without_provider).issues if i.blocking}
    assert "BR-VARIANT" not in {i.rule for i in engine.judge(v1(examples)).issues}


# ------------------------------------------------------------------ HAPI = descriptor = closure
@pytest.mark.parametrize("release", described_releases())
def test_hapi_reads_the_closure_the_gateway_resolves(release):
    """For every release: HAPI given TDDUI_VERSION installs the closure its descriptor lists."""
    packages = PackageSet.from_directory(package_dir(), [release])
    descriptor = load_descriptor(release, packages)
    built_in = set(hapi_config(IG)["tddui"]["hapi"]["built-in-packages"])
    files = hapi_package_files(release)
    assert set(files) | built_in == set(packages.packages) == set(descriptor.closure)
    for package_id, relative in files.items():
        assert packages.package(package_id).path.resolve() == (package_dir() / relative).resolve()


def test_hapis_default_release_is_the_gateways():
    """Without TDDUI_VERSION HAPI installs the release the gateway serves by default."""
    defaults = set(TDDUI_VERSION_PLACEHOLDER.findall(HAPI_YAML.read_text(encoding="utf-8")))
    assert defaults == {Settings().implementation_guide.partition("#")[2]}
    assert Settings().implementation_guide == "ans.fhir.fr.tddui#2.0.0"  # 2.4.0 is described but incomplete


@pytest.mark.parametrize("release", described_releases())
def test_hapi_tolerates_exactly_the_descriptor_gaps_and_builds_its_cross_version_extensions(release):
    packages = PackageSet.from_directory(package_dir(), [release])
    descriptor = load_descriptor(release, packages)
    settings = hapi_config(release)["tddui"]["hapi"]
    assert settings["tolerated-missing-canonicals"] == list(descriptor.tolerated)
    assert {row["url"]: row["type"] for row in settings["cross-version-extensions"]} == descriptor.cross_version
    assert not any(packages.has(url) for url in descriptor.cross_version)  # still in no package: the stubs are needed


@pytest.mark.parametrize("release", described_releases())
def test_every_tolerated_gap_is_really_missing_from_the_closure(release):
    """Fails as soon as a package that defines a tolerated canonical is added: then drop it from both lists."""
    packages = PackageSet.from_directory(package_dir(), [release])
    descriptor = load_descriptor(release, packages)
    assert descriptor.tolerated
    for url in descriptor.tolerated:
        assert not packages.has(url), f"{url} is now in the closure: stop tolerating it"


def test_the_profiles_reference_nothing_missing_but_the_tolerated(engine):
    assert engine.profiles.unresolved <= set(engine.descriptor.tolerated)


# ------------------------------------------------------------------ extensions
def test_every_extension_definition_of_the_closure_compiles(engine):
    """Slicing on Extension.extension by url, url fixed in the extension's own definition included."""
    urls = [e.url for e in engine.packages.entries("StructureDefinition")
            if e.type == "Extension" and e.url != "http://hl7.org/fhir/StructureDefinition/Extension"]
    assert len(urls) > 300
    failed = []
    for url in urls:
        try:
            engine.profiles.extension_tree(url)
        except Exception as exc:  # noqa: BLE001 - collect them all
            failed.append(f"{url}: {exc}")
    assert not failed


def test_r5_cross_version_extensions_are_synthesised_with_the_r5_type(engine, examples):
    bundle = v1(examples)
    encounter = bundle["entry"][2]["resource"]
    planned = [e for e in encounter.get("extension", []) if "Encounter.planned" in e["url"]]
    assert planned, "the IG example uses a planned*Date cross-version extension"
    assert engine.judge(bundle).accepted
    planned[0].pop("valueDateTime")
    planned[0]["valueString"] = "demain"
    issues = [i for i in engine.judge(bundle).issues if i.blocking]
    assert any(i.expression.startswith("Bundle.entry[2].resource.extension[3]") for i in issues), issues


def test_every_required_binding_of_the_closure_is_checkable(engine):
    """No required binding is left to HAPI any more: each ValueSet is in the closure (R4 core included)."""
    from gateway.conformance.structure import ProfileSet
    profile_bindings = {rule.value_set for tree in engine.profiles.trees.values() for rule in ProfileSet.all_rules(tree)
                        if rule.binding_strength == "required" and rule.value_set}
    r4_bindings = {spec.required_value_set for spec in engine.r4.elements.values() if spec.required_value_set}
    assert len(r4_bindings) > 200
    missing = {url for url in profile_bindings | r4_bindings if engine._terminology.value_set(url) is None}
    # an R4 Observation-genetics LOINC answer list, in no HL7 package; and, once every extension of the
    # closure is compiled (another test does it), FR Core's practitioner-profession extension (the
    # packages' README: FR Core's practitioner definitions bind absent ValueSets; TDDUI does not use them)
    assert {"http://loinc.org/vs/LL379-9"} <= missing <= {
        "http://loinc.org/vs/LL379-9", "https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-practitioner-profession"}


def test_a_package_cache_folder_is_read_like_a_tgz(tmp_path):
    """FHIR package caches (~/.fhir/packages) hold unpacked name#version/package/ folders."""
    directory = tmp_path / "cache"
    directory.mkdir()
    for path in package_dir().rglob("*.tgz"):
        if path.name == "ans.fhir.fr.tddui-2.0.0-ballot.tgz":
            with tarfile.open(path, "r:gz") as archive:
                archive.extractall(directory / "ans.fhir.fr.tddui#2.0.0-ballot", filter="data")
        else:
            (directory / path.name).symlink_to(path)
    packages = PackageSet.from_directory(directory, [IG])
    assert packages.package(IG).path.is_dir()
    assert packages.get(TDDUI + "tddui-bundle")["type"] == "Bundle"
    assert len(packages.package(IG).examples) == 5
