"""The one place that reads configuration: environment variables (12-factor).

Every setting, its variable and its default is listed in ``SETTINGS_DOC`` and
in the README; nothing else in the gateway calls ``os.environ``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gateway.descriptor import DESCRIPTOR_DIR, newest_release

# The FHIR package directory when FHIR_PACKAGE_DIR is not set: the checkout's
# ../shared/fhir-packages (located from this file, so any working directory will
# do), else the FHIR package cache of the HL7 tools, ~/.fhir/packages
# (``name#version/package/`` folders, read as they are).
CHECKOUT_PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "fhir-packages"
DEFAULT_PACKAGE_DIR = str(CHECKOUT_PACKAGE_DIR)


def default_package_dir(env) -> Path:
    if CHECKOUT_PACKAGE_DIR.is_dir():
        return CHECKOUT_PACKAGE_DIR
    return Path(env.get("HOME") or Path.home()) / ".fhir" / "packages"


@dataclass(frozen=True)
class Settings:
    """Immutable gateway settings, built once at start-up."""

    hapi_base_url: str = "http://localhost:8080/fhir"
    hapi_connect_timeout: float = 5.0
    hapi_read_timeout: float = 120.0
    package_dir: Path = Path(DEFAULT_PACKAGE_DIR)
    # the newest release with a descriptor in descriptor_dir (earlier ones stay selectable)
    implementation_guide: str = newest_release()
    descriptor_dir: Path = DESCRIPTOR_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # gunicornc's control socket: none by default, since gunicorn's own default path is one per
    # user, so every instance on a host would take it over from the one before (README, "Scaling out").
    control_socket: Path | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    # 20,000 entries (a whole facility's export) of IG-example size are 65 MB of JSON; judging them
    # peaks at about 430 MB RSS per worker (docs/evidence.md, "Entry cap").
    max_body_bytes: int = 80 * 1024 * 1024
    max_entries: int = 20_000
    max_json_depth: int = 64
    auth_required: bool = True
    producers_file: Path | None = None
    producers_json: str | None = None
    api_key_header: str = "X-API-Key"
    certificate_header: str = "X-SSL-Client-S-DN"
    trusted_proxies: tuple[str, ...] = ()
    public_base_url: str | None = None
    receipt: str = "upsert"
    r4_core_package: Path = Path("hl7/hl7.fhir.r4.core-4.0.1.tgz")

    @property
    def r4_core_package_path(self) -> Path:
        """The R4 core package, relative paths taken from the package directory."""
        return self.package_dir / self.r4_core_package
    admin_key_sha256: tuple[str, ...] = ()
    audit_retention_days: int = 183

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()

        def read(name: str, default, convert=str):
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return convert(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{name}={raw!r} is not valid: {exc}") from exc

        descriptor_dir = read("TDDUI_DESCRIPTOR_DIR", defaults.descriptor_dir, Path)
        return cls(
            hapi_base_url=read("HAPI_BASE_URL", defaults.hapi_base_url).rstrip("/"),
            hapi_connect_timeout=read("HAPI_CONNECT_TIMEOUT", defaults.hapi_connect_timeout, float),
            hapi_read_timeout=read("HAPI_READ_TIMEOUT", defaults.hapi_read_timeout, float),
            package_dir=read("FHIR_PACKAGE_DIR", default_package_dir(env), Path),
            implementation_guide=read("TDDUI_IG", None) or default_release(descriptor_dir),
            descriptor_dir=descriptor_dir,
            host=read("GATEWAY_HOST", defaults.host),
            port=read("GATEWAY_PORT", defaults.port, int),
            workers=read("GATEWAY_WORKERS", defaults.workers, int),
            control_socket=read("GATEWAY_CONTROL_SOCKET", None, Path),
            log_level=read("LOG_LEVEL", defaults.log_level).upper(),
            log_format=read("LOG_FORMAT", defaults.log_format, log_format),
            max_body_bytes=read("GATEWAY_MAX_BODY_BYTES", defaults.max_body_bytes, int),
            max_entries=read("GATEWAY_MAX_ENTRIES", defaults.max_entries, int),
            max_json_depth=read("GATEWAY_MAX_JSON_DEPTH", defaults.max_json_depth, int),
            auth_required=read("GATEWAY_AUTH", "required", auth_mode) == "required",
            producers_file=read("GATEWAY_PRODUCERS_FILE", None, Path),
            producers_json=read("GATEWAY_PRODUCERS", None),
            api_key_header=read("GATEWAY_API_KEY_HEADER", defaults.api_key_header),
            certificate_header=read("GATEWAY_CLIENT_CERT_HEADER", defaults.certificate_header),
            trusted_proxies=read("GATEWAY_TRUSTED_PROXIES", (), comma_list),
            public_base_url=read("GATEWAY_PUBLIC_BASE_URL", None, public_base_url),
            receipt=read("GATEWAY_RECEIPT", defaults.receipt, receipt_mode),
            r4_core_package=read("FHIR_R4_CORE_PACKAGE", defaults.r4_core_package, Path),
            admin_key_sha256=read("GATEWAY_ADMIN_KEY_SHA256", (), sha256_list),
            audit_retention_days=read("GATEWAY_AUDIT_RETENTION_DAYS", defaults.audit_retention_days, positive_int),
        )


def default_release(descriptor_dir: Path) -> str:
    """TDDUI_IG unset: the newest release described in the descriptor directory and not marked incomplete."""
    release = newest_release(descriptor_dir)
    if release is None:
        raise ConfigurationError(f"TDDUI_IG is not set and {descriptor_dir} holds no release descriptor (*.toml)")
    return release


def auth_mode(raw: str) -> str:
    if raw not in ("required", "off"):
        raise ValueError("expected 'required' or 'off'")
    return raw


def log_format(raw: str) -> str:
    if raw not in ("json", "text"):
        raise ValueError("expected 'json' or 'text'")
    return raw


def receipt_mode(raw: str) -> str:
    if raw not in ("upsert", "create"):
        raise ValueError("expected 'upsert' or 'create'")
    return raw


def public_base_url(raw: str) -> str:
    """An absolute http(s) base without query or fragment, and no character that JSON or XML would escape."""
    parsed = urlsplit(raw.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment \
            or not re.fullmatch(r"[A-Za-z0-9._~:/\[\]%-]+", raw.strip()):
        raise ValueError("expected an absolute http(s) URL such as https://tddui.example.fr, "
                         "without query, fragment, quotes or spaces")
    return raw.strip().rstrip("/")


def sha256_list(raw: str) -> tuple[str, ...]:
    digests = tuple(digest.lower() for digest in comma_list(raw))
    if not all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in digests):
        raise ValueError("expected comma-separated SHA-256 hex digests (printf %s \"$KEY\" | sha256sum)")
    return digests


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def comma_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class ConfigurationError(Exception):
    """A setting is missing or malformed: start-up stops with this message."""


SETTINGS_DOC = {
    "HAPI_BASE_URL": "FHIR base of the HAPI server the gateway forwards to (default http://localhost:8080/fhir)",
    "HAPI_CONNECT_TIMEOUT": "seconds to wait for a TCP connection to HAPI (default 5)",
    "HAPI_READ_TIMEOUT": "seconds to wait for HAPI's answer before replying 504 (default 120)",
    "FHIR_PACKAGE_DIR": "directory searched (sub-folders included) for the FHIR package .tgz files or package-cache folders (default: the checkout's ../shared/fhir-packages, else ~/.fhir/packages)",
    "FHIR_R4_CORE_PACKAGE": "the R4 core package whose StructureDefinitions drive the FHIR XML converter, relative to FHIR_PACKAGE_DIR (default hl7/hl7.fhir.r4.core-4.0.1.tgz)",
    "TDDUI_IG": "the TDDUI release served, as name#version (default: the newest release with a descriptor in TDDUI_DESCRIPTOR_DIR, ans.fhir.fr.tddui#2.0.0; ans.fhir.fr.tddui#2.0.0-ballot stays selectable); HAPI must be loaded with the same one",
    "TDDUI_DESCRIPTOR_DIR": "directory of the release descriptors, one <name>-<version>.toml per release (default: the gateway's own gateway/descriptors)",
    "GATEWAY_HOST": "address the gateway listens on (default 127.0.0.1)",
    "GATEWAY_PORT": "port the gateway listens on (default 8000)",
    "GATEWAY_WORKERS": "gunicorn worker processes (default 2)",
    "GATEWAY_CONTROL_SOCKET": "path of this instance's gunicorn control socket, for gunicornc (default none: no socket)",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR (default INFO)",
    "LOG_FORMAT": "json (default: one JSON object per line, with the request id) or text",
    "GATEWAY_MAX_BODY_BYTES": "largest accepted request body, in bytes (default 83886080, 80 MiB); larger: 413",
    "GATEWAY_MAX_ENTRIES": "most entries in one Bundle (default 20000: a whole facility, memory-bounded); more: 413",
    "GATEWAY_MAX_JSON_DEPTH": "deepest JSON nesting accepted (default 64); deeper: 400",
    "GATEWAY_AUTH": "'required' (default) or 'off' (local development only: every request is trusted)",
    "GATEWAY_PRODUCERS_FILE": "YAML/JSON file listing producers, their API-key hashes, certificate subjects and FINESS",
    "GATEWAY_PRODUCERS": "the same producer list as inline JSON (takes precedence over the file)",
    "GATEWAY_API_KEY_HEADER": "header carrying a producer's API key (default X-API-Key)",
    "GATEWAY_CLIENT_CERT_HEADER": "header in which the TLS proxy passes the client-certificate subject DN (default X-SSL-Client-S-DN)",
    "GATEWAY_RECEIPT": "'upsert' (default): each entry is a conditional update on its business identifiers within its legal entity (created, unchanged or a new version); 'create': plain creates, as the IG's letter says (a resend creates again)",
    "GATEWAY_TRUSTED_PROXIES": "comma-separated addresses/CIDRs of TLS proxies whose certificate header and X-Forwarded-Proto/-Host are believed (default none)",
    "GATEWAY_PUBLIC_BASE_URL": "the gateway's FHIR base as producers reach it (e.g. https://tddui.example.fr), written in answers wherever HAPI's own base would appear (default: the address the request was sent to, as forwarded by a trusted proxy)",
    "GATEWAY_ADMIN_KEY_SHA256": "comma-separated SHA-256 of the admin passwords for /admin/ (HTTP Basic, any user name); unset: /admin/ answers 404",
    "GATEWAY_AUDIT_RETENTION_DAYS": "days AuditEvents are kept; `tddui-gateway purge-audit` deletes older ones (default 183, the 6 months ANS asks)",
}
