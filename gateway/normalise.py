"""Stage 2: dispatch and normalisation, before any check.

Decides which profile each entry is checked against and rewrites what the
IG's own producers get wrong in harmless ways, so that the gateway and HAPI
judge the same thing:

* an entry's profile is the Flux 1 profile named in ``meta.profile`` (with or
  without ``|version``); a profile URL the packages do not define is an error,
  and so is a ``|version`` that is not the release served (a producer of
  another release: the message names both versions);
* an entry without ``meta.profile`` gets the profile its content implies, and
  that profile is written into the forwarded resource; ``Bundle.meta.profile``
  likewise gets the flow's Bundle profile;
* ``request.url`` holding a profile name (the IG example does) becomes the
  resource type, with a warning.

The caller's dict is never modified: the result shares the untouched parts
of the input and has new objects wherever something changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from gateway.outcome import Issue, Message


@dataclass(frozen=True)
class FlowProfile:
    """A profile of the flow: its canonical, version, resource type, and the
    names a producer may write instead of the resource type (name, id)."""

    url: str
    version: str | None
    resource_type: str
    names: frozenset[str]


@dataclass(frozen=True)
class Flow:
    release: str                                      # the package served, name#version
    bundle: FlowProfile
    entries: tuple[FlowProfile, ...]
    is_known_profile: Callable[[str], bool]          # canonical defined by the packages
    implied_profile: Callable[[dict], str | None]     # profile a resource's content implies


@dataclass
class Normalised:
    bundle: dict
    issues: list[Issue] = field(default_factory=list)
    entry_profiles: list[str | None] = field(default_factory=list)  # profile each entry is checked against


def _warning(code: str, fr: str, en: str, expression: str, rule: str) -> Issue:
    return Issue("warning", code, Message(fr, en), expression, rule)


def _error(code: str, fr: str, en: str, expression: str, rule: str) -> Issue:
    return Issue("error", code, Message(fr, en), expression, rule)


class Normaliser:
    def __init__(self, flow: Flow):
        self._flow = flow
        self._entry_profiles = {profile.url: profile for profile in flow.entries}
        self._by_name = {name: profile for profile in flow.entries for name in profile.names}

    def __call__(self, bundle: dict) -> Normalised:
        result = Normalised(dict(bundle))
        self._bundle_profile(result)
        entries = bundle.get("entry")
        if isinstance(entries, list):
            result.bundle["entry"] = [self._entry(entry, index, result) for index, entry in enumerate(entries)]
        return result

    def _canonical_issue(self, declared: str, expression: str) -> Issue | None:
        """An error when ``declared`` is not a profile the packages define, or
        claims a version of a flow profile other than the release served."""
        url, _, version = declared.partition("|")
        profile = self._entry_profiles.get(url) or (self._flow.bundle if url == self._flow.bundle.url else None)
        if version and profile and profile.version and version != profile.version:
            return _error("not-supported",
                          f"Le profil {url} est revendiqué en version {version} ; cette passerelle sert la "
                          f"version {profile.version} ({self._flow.release}).",
                          f"Profile {url} is claimed at version {version}; this gateway serves version "
                          f"{profile.version} ({self._flow.release}).", expression, "gateway-profile-version")
        if self._flow.is_known_profile(url):
            return None
        return _error("not-supported",
                      f"Profil inconnu de la passerelle : {declared}.",
                      f"Profile unknown to the gateway: {declared}.", expression, "gateway-unknown-profile")

    def _bundle_profile(self, result: Normalised) -> None:
        bundle = result.bundle
        if _malformed_meta(bundle):
            return  # reported by the R4 pass, never repaired
        meta = bundle.get("meta") if isinstance(bundle.get("meta"), dict) else {}
        declared = meta.get("profile") if isinstance(meta.get("profile"), list) else []
        for index, url in enumerate(declared):
            issue = self._canonical_issue(str(url), f"Bundle.meta.profile[{index}]")
            if issue:
                result.issues.append(issue)
        if not declared:
            bundle["meta"] = {**meta, "profile": [self._flow.bundle.url]}
            result.issues.append(_warning(
                "informational",
                f"Bundle.meta.profile absent : le profil {self._flow.bundle.url} a été ajouté.",
                f"Bundle.meta.profile missing: profile {self._flow.bundle.url} was added.",
                "Bundle.meta.profile", "gateway-infer-profile"))

    def _entry(self, entry, index: int, result: Normalised):
        where = f"Bundle.entry[{index}]"
        if not isinstance(entry, dict):
            result.entry_profiles.append(None)
            return entry
        entry = dict(entry)
        resource = entry.get("resource")
        profile = None
        if isinstance(resource, dict):
            resource, profile = self._resource_profile(resource, f"{where}.resource", result)
            entry["resource"] = resource
        result.entry_profiles.append(profile)
        request = entry.get("request")
        # only a string can name a profile: an object or list in request.url
        # (reported by the R4 pass) is left as it is, and is not hashable
        if isinstance(request, dict) and isinstance(request.get("url"), str) and request["url"] in self._by_name:
            named = self._by_name[request["url"]]
            entry["request"] = {**request, "url": named.resource_type}
            result.issues.append(_warning(
                "value",
                f"request.url contenait le nom de profil {request['url']!r} ; remplacé par le type de ressource {named.resource_type!r}.",
                f"request.url held the profile name {request['url']!r}; replaced by the resource type {named.resource_type!r}.",
                f"{where}.request.url", "gateway-request-url"))
        return entry

    def _resource_profile(self, resource: dict, where: str, result: Normalised) -> tuple[dict, str | None]:
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        declared = meta.get("profile") if isinstance(meta.get("profile"), list) else []
        chosen = None
        for index, url in enumerate(declared):
            url = str(url)
            issue = self._canonical_issue(url, f"{where}.meta.profile[{index}]")
            if issue:
                result.issues.append(issue)
            elif chosen is None and url.partition("|")[0] in self._entry_profiles:
                candidate = self._entry_profiles[url.partition("|")[0]]
                if candidate.resource_type == resource.get("resourceType"):
                    chosen = candidate.url
        if declared:
            return resource, chosen
        implied = self._flow.implied_profile(resource)
        if implied is None:
            return resource, None
        if _malformed_meta(resource):
            return resource, implied  # checked against it; the R4 pass reports meta, nothing is repaired
        result.issues.append(_warning(
            "informational",
            f"meta.profile absent : la ressource est vérifiée avec le profil {implied}, ajouté à la ressource transmise.",
            f"meta.profile missing: the resource is checked against {implied}, which was added to the forwarded resource.",
            f"{where}.meta.profile", "gateway-infer-profile"))
        return {**resource, "meta": {**meta, "profile": [implied]}}, implied


def _malformed_meta(resource: dict) -> bool:
    """A ``meta`` that is not an object, or whose ``profile`` is not an array:
    the producer's error, to be reported as it is, not overwritten."""
    meta = resource.get("meta")
    if meta is None:
        return False
    return not isinstance(meta, dict) or ("profile" in meta and not isinstance(meta["profile"], list))
