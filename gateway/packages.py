"""Read FHIR NPM packages (.tgz) from a local directory, with no network.

The same directory feeds HAPI's installer and the gateway's conformance
engine, so both judge bundles against the very same resources. Loading
follows what FHIR tools do: the directory is searched recursively, a package
without ``.index.json`` is indexed on load, the IG's dependency closure is
resolved by ``name#version`` (the nearest available version standing in for
a missing one, with a warning), and canonicals resolve within that closure
only. Resources are parsed on first use: the closure is large (R4 core alone
holds 4,581 resources) and a verdict needs a few hundred of them. Once the
closure is indexed, only canonical resources are kept, each zlib-compressed
(68 MB of JSON become 16 MB in every gateway worker).
"""
from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class PackageError(Exception):
    """A package is missing, unreadable or inconsistent: start-up stops."""


@dataclass(frozen=True, slots=True)  # slots: the closure has ~10,000 of them, in every worker
class IndexEntry:
    """One row of a package's ``.index.json``."""

    filename: str
    resource_type: str
    id: str | None
    url: str | None
    version: str | None
    type: str | None = None   # of a StructureDefinition: the type it defines or constrains
    kind: str | None = None


@dataclass
class Package:
    name: str
    version: str
    dependencies: dict[str, str]
    path: Path
    _files: dict[str, bytes] = field(repr=False)          # top-level file name -> raw JSON (compressed: see below)
    _example_files: dict[str, bytes] = field(repr=False)  # example/ file name -> raw JSON
    _index_json: dict | None = field(default=None, repr=False)
    _index: list[IndexEntry] | None = field(default=None, repr=False)
    _parsed: dict[str, dict] = field(default_factory=dict, repr=False)
    _compressed: bool = field(default=False, repr=False)  # _files holds zlib-compressed JSON

    @property
    def id(self) -> str:
        return f"{self.name}#{self.version}"

    @property
    def index(self) -> list[IndexEntry]:
        """The package's ``.index.json``; computed from the files when the
        package has none (real registry packages often lack it)."""
        if self._index is None:
            rows = (self._index_json or {}).get("files")
            if isinstance(rows, list):
                self._index = [IndexEntry(row["filename"], row.get("resourceType"), row.get("id"), row.get("url"),
                                          row.get("version"), row.get("type"), row.get("kind"))
                               for row in rows if isinstance(row, dict) and row.get("filename") in self._files]
                self._index_json = None  # read: its rows are in _index
            else:
                try:
                    self._index = [entry for name in sorted(self._files)
                                   if (entry := _index_entry(name, json.loads(self._files[name]))) is not None]
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise PackageError(f"cannot read FHIR package {self.path}: {exc}") from exc
        return self._index

    def resource(self, filename: str, keep: bool = True) -> dict:
        """The resource in ``package/<filename>``, parsed on first use (and kept, unless ``keep`` is false)."""
        if filename in self._parsed:
            return self._parsed[filename]
        raw = self._files[filename]
        parsed = json.loads(zlib.decompress(raw) if self._compressed else raw)
        if keep:
            self._parsed[filename] = parsed
        return parsed

    def keep_canonical_only(self) -> None:
        """Drop the raw bytes of every file that is not a canonical resource
        (terminology's Bundles alone are 25 MB): a canonical is all a lookup can name.
        The rest is compressed: most of it is never parsed, yet every worker holds it."""
        if self._compressed:
            return
        canonical = {entry.filename for entry in self.index if entry.url}
        self._files = {name: zlib.compress(raw, 1) for name, raw in self._files.items() if name in canonical}
        self._compressed = True

    def resources_of(self, *resource_types: str) -> list[dict]:
        """This package's resources of these types (all of them when none is named)."""
        return [self.resource(entry.filename) for entry in self.index
                if not resource_types or entry.resource_type in resource_types]

    @property
    def resources(self) -> list[dict]:
        return self.resources_of()

    @property
    def examples(self) -> dict[str, dict]:
        """The package's examples (``package/example/``), by file name without ``.json``."""
        found = {}
        for name, raw in self._example_files.items():
            content = json.loads(raw)
            if isinstance(content, dict) and "resourceType" in content:
                found[name[:-len(".json")]] = content
        return found


def _index_entry(filename: str, content) -> IndexEntry | None:
    if not isinstance(content, dict) or not isinstance(content.get("resourceType"), str):
        return None
    return IndexEntry(filename, content["resourceType"], content.get("id"), content.get("url"), content.get("version"),
                      content.get("type"), content.get("kind"))


def _tar_members(data: bytes):
    """``(name, content)`` of each regular file of an uncompressed tar.

    A plain loop over the 512-byte headers: ``tarfile`` builds an object per
    member, which costs more than the decompression itself on packages of
    thousands of files. Long names (GNU ``L`` and pax ``path`` records) are honoured.
    """
    offset, long_name = 0, None
    view = memoryview(data)
    while offset + 512 <= len(data):
        header = data[offset:offset + 512]
        if header == b"\0" * 512:
            break
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        kind = header[156:157]
        start = offset + 512
        offset = start + (size + 511) // 512 * 512
        if kind in (b"L", b"x"):
            body = bytes(view[start:start + size])
            if kind == b"L":
                long_name = body.rstrip(b"\0").decode("utf-8")
            else:
                paths = [line.split(b"=", 1)[1] for line in body.split(b"\n") if b" path=" in line]
                long_name = paths[0].decode("utf-8") if paths else long_name
            continue
        name = long_name or (header[345:500].split(b"\0", 1)[0] + b"/" * bool(header[345]) +
                             header[0:100].split(b"\0", 1)[0]).decode("utf-8")
        long_name = None
        if kind in (b"0", b"\0"):
            yield name, view[start:start + size]


def _members(path: Path):
    """``(name, content)`` of a package file (``.tgz``) or of an unpacked package
    folder as FHIR package caches hold them (``name#version/package/...``)."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield file.relative_to(path).as_posix(), memoryview(file.read_bytes())
    else:
        yield from _tar_members(gzip.decompress(path.read_bytes()))


def read_package(path: Path) -> Package:
    """Load one package: its manifest, ``.index.json`` when it has one, and
    the raw bytes of its resources and examples (parsed on first use)."""
    files, examples, index_json, manifest = {}, {}, None, None
    try:
        for name, content in _members(Path(path)):
            parts = name.split("/")
            if parts[0] != "package" or not parts[-1].endswith(".json"):
                continue
            if len(parts) == 2:
                if parts[1] == "package.json":
                    manifest = json.loads(bytes(content))
                elif parts[1] == ".index.json":
                    index_json = json.loads(bytes(content))
                elif not parts[1].startswith("."):
                    files[parts[1]] = bytes(content)  # a copy: the decompressed archive is then freed
            elif len(parts) == 3 and parts[1] == "example" and not parts[2].startswith("."):
                examples[parts[2]] = bytes(content)
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise PackageError(f"cannot read FHIR package {path}: {exc}") from exc
    if not isinstance(manifest, dict) or "name" not in manifest or "version" not in manifest:
        raise PackageError(f"{path} has no package/package.json with a name and version: not a FHIR package")
    return Package(manifest["name"], manifest["version"], manifest.get("dependencies") or {}, path,
                   files, examples, index_json if isinstance(index_json, dict) else None)


_VERSION_PART = re.compile(r"\d+")


def version_key(version: str) -> tuple:
    """A sortable key for a package version: numbers first, a release before its pre-releases."""
    release, _, label = version.partition("-")
    return tuple(int(part) for part in _VERSION_PART.findall(release)[:3]), label == "", label


def nearest_version(wanted: str, available: list[str]) -> str:
    """The available version closest to ``wanted`` on the version line (6.5.0 -> 7.0.1 rather
    than 5.0.0); the newer one on a tie, a release before its pre-releases."""
    def position(version: str) -> int:
        numbers = (version_key(version)[0] + (0, 0, 0))[:3]
        return numbers[0] * 1_000_000 + numbers[1] * 1_000 + numbers[2]

    target = position(wanted)
    return min(sorted(available, key=version_key, reverse=True), key=lambda v: abs(position(v) - target))


def package_directory_problem(directory: Path) -> str | None:
    """Why ``directory`` cannot serve as the package directory, with the fix; None when it can."""
    if Path(directory).is_dir():
        return None
    return (f"FHIR package directory {directory} does not exist: set FHIR_PACKAGE_DIR to the folder "
            f"holding the package .tgz files (or a FHIR package cache such as ~/.fhir/packages); "
            f"see the README, 'FHIR packages'")


@dataclass(frozen=True)
class Substitution:
    """A dependency version that is not available, replaced by the nearest one that is."""

    name: str
    declared: tuple[str, ...]   # "version (by package)" as the manifests declare them
    used: str | None            # None: no version of the package is available


class PackageSet:
    """The dependency closure of an IG, indexed by canonical URL.

    ``packages`` is in closure order (the IG first, then breadth-first). When
    several packages of the closure define the same canonical, the one that
    depends on the others wins (the terminology package over R4 core's older
    copies), as a package's dependants refine it.
    """

    def __init__(self, packages: list[Package], substitutions: tuple[Substitution, ...] = ()):
        self.packages = {package.id: package for package in packages}
        self.substitutions = substitutions
        for package in packages:
            package.keep_canonical_only()
        depends = self._transitive_dependencies(packages)
        self._by_url: dict[str, list[tuple[Package, IndexEntry]]] = {}
        for package in sorted(packages, key=lambda p: -len(depends[p.id])):
            for entry in package.index:
                if entry.url:
                    self._by_url.setdefault(entry.url, []).append((package, entry))
        self._overrides: dict[str, dict] = {}

    @staticmethod
    def _transitive_dependencies(packages: list[Package]) -> dict[str, set[str]]:
        by_name = {package.name: package for package in packages}
        found: dict[str, set[str]] = {}

        def visit(package: Package, trail: frozenset) -> set[str]:
            if package.id not in found:
                below = set()
                for name in package.dependencies:
                    dependency = by_name.get(name)
                    if dependency is not None and dependency.id not in trail:
                        below |= {dependency.id} | visit(dependency, trail | {package.id})
                found[package.id] = below
            return found[package.id]

        for package in packages:
            visit(package, frozenset())
        return found

    @classmethod
    def from_directory(cls, directory: Path, roots: list[str]) -> "PackageSet":
        """The closure of ``roots`` (``name#version``, found exactly) among the
        ``*.tgz`` anywhere under ``directory``; packages outside it are ignored."""
        directory = Path(directory)
        problem = package_directory_problem(directory)
        if problem:
            raise PackageError(problem)
        available: dict[str, dict[str, Package]] = {}
        found = sorted(directory.rglob("*.tgz")) + sorted(p.parent.parent for p in directory.glob("*/package/package.json"))
        for path in found:
            package = read_package(path)
            name, version = package.name, package.version
            if version in available.setdefault(name, {}):
                log.warning("FHIR package %s#%s is in both %s and %s: using the first", name, version,
                            available[name][version].path, path)
                continue
            available[name][version] = package
        missing = [root for root in roots if root.partition("#")[2] not in available.get(root.partition("#")[0], {})]
        if missing:
            raise PackageError(f"FHIR package(s) {', '.join(missing)} not found in {directory.resolve()} "
                               f"(set FHIR_PACKAGE_DIR to the folder holding them)")
        chosen: dict[str, str] = {}
        declared: dict[str, list[str]] = {}
        queue = [tuple(root.partition("#")[::2]) + ("",) for root in roots]
        while queue:
            name, version, by = queue.pop(0)
            if by:
                declared.setdefault(name, []).append(f"{version} ({by})")
            if name in chosen or name not in available:
                continue
            chosen[name] = version if version in available[name] else nearest_version(version, list(available[name]))
            queue.extend((dep, dep_version, f"{name}#{chosen[name]}")
                         for dep, dep_version in available[name][chosen[name]].dependencies.items())
        substitutions = tuple(
            Substitution(name, tuple(sorted(set(versions))), chosen.get(name))
            for name, versions in declared.items()
            if name not in chosen or any(not v.startswith(chosen[name] + " ") for v in versions))
        for substitution in substitutions:
            if substitution.used is None:
                log.warning("FHIR package %s (declared %s) is not in %s: its canonicals are not checked",
                            substitution.name, ", ".join(substitution.declared), directory)
            else:
                log.warning("FHIR package %s: declared %s, not available; using %s#%s, the nearest available",
                            substitution.name, ", ".join(substitution.declared), substitution.name, substitution.used)
        return cls([available[name][version] for name, version in chosen.items()], substitutions)

    # ------------------------------------------------------------ canonicals
    def _candidates(self, canonical: str) -> list[tuple[Package, IndexEntry]]:
        url, _, version = canonical.partition("|")
        candidates = self._by_url.get(url, [])
        if version:
            exact = [c for c in candidates if c[1].version == version]
            return exact or candidates  # the closure's version stands in, as for packages
        return candidates

    def get(self, canonical: str, keep: bool = True) -> dict | None:
        """Resolve a canonical URL, with or without ``|version``, within the closure
        (``keep=False``: parse it for a one-off use, without caching it)."""
        url = canonical.partition("|")[0]
        if url in self._overrides:
            return self._overrides[url]
        candidates = self._candidates(canonical)
        if not candidates:
            return None
        package, entry = candidates[0]
        return package.resource(entry.filename, keep)

    def has(self, canonical: str, resource_type: str | None = None) -> bool:
        """Whether the closure defines ``canonical`` (from the indexes only: nothing is parsed)."""
        if canonical.partition("|")[0] in self._overrides:
            return True
        return any(resource_type in (None, entry.resource_type) for _, entry in self._candidates(canonical))

    def override(self, resource: dict) -> None:
        """Put ``resource`` in place of the closure's definition of its url
        (tests use it to run the engine on a changed profile)."""
        self._overrides[resource["url"]] = resource

    def package(self, package_id: str) -> Package:
        return self.packages[package_id]

    def package_of(self, name: str) -> Package | None:
        """The closure's package of that name, whatever its version."""
        return next((p for p in self.packages.values() if p.name == name), None)

    def entries(self, resource_type: str) -> list[IndexEntry]:
        """The index row of each canonical of that resource type (the one ``get`` resolves to)."""
        return [rows[0][1] for rows in self._by_url.values() if rows[0][1].resource_type == resource_type]

