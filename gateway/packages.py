"""Read FHIR NPM packages (.tgz) from a local directory, with no network.

The same directory feeds HAPI's installer and the gateway's conformance
engine, so both judge bundles against the very same resources.
"""
from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


class PackageError(Exception):
    """A package is missing, unreadable or inconsistent: start-up stops."""


@dataclass
class Package:
    name: str
    version: str
    dependencies: dict[str, str]
    path: Path
    resources: list[dict] = field(default_factory=list)
    examples: dict[str, dict] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}#{self.version}"


def read_package(path: Path) -> Package:
    """Load one package: its manifest, conformance resources and examples."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            manifest = None
            resources, examples = [], {}
            for member in archive:
                if not member.isfile() or not member.name.endswith(".json"):
                    continue
                parts = member.name.split("/")
                if parts[0] != "package" or parts[-1].startswith("."):
                    continue
                content = json.load(archive.extractfile(member))
                if parts[1:] == ["package.json"]:
                    manifest = content
                elif len(parts) == 2 and "resourceType" in content:
                    resources.append(content)
                elif parts[1:2] == ["example"] and len(parts) == 3 and "resourceType" in content:
                    examples[parts[2][:-len(".json")]] = content
    except (OSError, tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"cannot read FHIR package {path}: {exc}") from exc
    if manifest is None:
        raise PackageError(f"{path} has no package/package.json: not a FHIR package")
    return Package(manifest["name"], manifest["version"], manifest.get("dependencies", {}),
                   path, resources, examples)


class PackageSet:
    """Every package found in a directory, indexed by canonical URL."""

    def __init__(self, packages: list[Package]):
        self.packages = {package.id: package for package in packages}
        self.by_url: dict[str, dict] = {}
        for package in packages:
            for resource in package.resources:
                url = resource.get("url")
                if url:
                    self.by_url.setdefault(url, resource)

    @classmethod
    def from_directory(cls, directory: Path, required: list[str]) -> "PackageSet":
        """Load all ``*.tgz`` of ``directory``; each ``name#version`` in
        ``required`` must be among them, or start-up stops naming it."""
        directory = Path(directory)
        if not directory.is_dir():
            raise PackageError(f"FHIR package directory {directory} does not exist")
        packages = [read_package(path) for path in sorted(directory.glob("*.tgz"))]
        found = cls(packages)
        missing = [package_id for package_id in required if package_id not in found.packages]
        if missing:
            raise PackageError(
                f"FHIR package(s) {', '.join(missing)} not found in {directory.resolve()}")
        return found

    def get(self, canonical: str) -> dict | None:
        """Resolve a canonical URL, with or without ``|version``."""
        return self.by_url.get(canonical.partition("|")[0])

    def package(self, package_id: str) -> Package:
        return self.packages[package_id]
