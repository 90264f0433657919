"""Resolving references inside a transaction Bundle (FHIR R4 bundle.html
§3.3.1.4.1): by ``fullUrl`` (``urn:uuid:`` included) or by ``Type/id``."""
from __future__ import annotations

import re

_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(/_history/.*)?$")
_ABSOLUTE_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(/_history/.*)?$")


class BundleIndex:
    """The resources of a bundle's entries, by fullUrl and by Type/id."""

    def __init__(self, bundle: dict):
        self.by_full_url: dict[str, dict] = {}
        self.by_type_id: dict[str, dict] = {}
        entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                self.by_full_url.setdefault(full_url, resource)
                tail = _ABSOLUTE_TAIL.search(full_url)
                if tail:
                    self.by_type_id.setdefault(f"{tail.group(1)}/{tail.group(2)}", resource)
            elif full_url is None and isinstance(resource.get("id"), str) and isinstance(resource.get("resourceType"), str):
                # a Type/id reference names a RESTful fullUrl's tail; an entry whose
                # fullUrl is a urn:uuid/urn:oid is reached by that urn only (as HAPI does)
                self.by_type_id.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)

    def resolve(self, reference: str) -> dict | None:
        if reference in self.by_full_url:
            return self.by_full_url[reference]
        relative = _RELATIVE.match(reference)
        if relative:
            return self.by_type_id.get(f"{relative.group(1)}/{relative.group(2)}")
        return None
