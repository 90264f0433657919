"""The one place that builds OperationOutcomes.

Every stage reports problems as ``Issue`` values; this module turns them into
an R4 OperationOutcome in the caller's language (French by default, English
when ``Accept-Language`` prefers it).
"""
from __future__ import annotations

from dataclasses import dataclass

RULE_SYSTEM = "https://github.com/tddui-gateway/rules"
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Message:
    """A diagnostic written in both supported languages."""

    fr: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.fr


@dataclass(frozen=True)
class Issue:
    """One problem found in a request.

    ``code`` is an R4 IssueType (required, value, invariant, structure...),
    ``expression`` a FHIRPath down to the faulty element and ``rule`` the id a
    producer can look up (constraint key, slice name or business-rule id).
    """

    severity: str
    code: str
    message: Message
    expression: str | None = None
    rule: str | None = None

    @property
    def blocking(self) -> bool:
        return self.severity in ("fatal", "error")


def operation_outcome(issues: list[Issue], language: str = "fr") -> dict:
    """Render issues as an OperationOutcome resource (a JSON-ready dict)."""
    rendered = []
    for issue in issues:
        entry: dict = {"severity": issue.severity, "code": issue.code}
        if issue.rule:
            entry["details"] = {"coding": [{"system": RULE_SYSTEM, "code": issue.rule}]}
        entry["diagnostics"] = issue.message.text(language)
        if issue.expression:
            entry["expression"] = [issue.expression]
        rendered.append(entry)
    if not rendered:
        rendered.append({
            "severity": "information",
            "code": "informational",
            "diagnostics": "Aucun problème détecté." if language == "fr" else "No issues detected.",
        })
    return {"resourceType": "OperationOutcome", "issue": rendered}


def verdict_outcome(issues: list[Issue], language: str = "fr") -> dict:
    """A validation verdict: every issue, then, when none blocks, one ``information`` issue saying so."""
    if any(issue.blocking for issue in issues):
        return operation_outcome(issues, language)
    valid = single("information", "informational", "Le Bundle est valide.", "The Bundle is valid.",
                   rule="gateway-valid")
    return operation_outcome([*issues, valid], language)


def entry_outcome(status: str, location: str | None, unchanged: bool, language: str = "fr") -> dict:
    """What became of one transaction entry, for ``Prefer: return=OperationOutcome``."""
    where = location or "?"
    if status.startswith("201"):
        issue = single("information", "informational", f"Ressource créée : {where}.", f"Resource created: {where}.",
                       rule="gateway-entry-created")
    elif unchanged:
        issue = single("information", "informational", f"Ressource déjà enregistrée, inchangée : {where}.",
                       f"Resource already stored, unchanged: {where}.", rule="gateway-entry-unchanged")
    else:
        issue = single("information", "informational", f"Nouvelle version enregistrée : {where}.",
                       f"New version stored: {where}.", rule="gateway-entry-updated")
    return operation_outcome([issue], language)


def single(severity: str, code: str, fr: str, en: str, rule: str | None = None,
           expression: str | None = None) -> Issue:
    """Shorthand for the gateway's own one-issue refusals."""
    return Issue(severity, code, Message(fr, en), expression, rule)


def preferred_language(accept_language: str | None) -> str:
    """Pick fr or en from an Accept-Language header; French unless English wins."""
    if not accept_language:
        return "fr"
    best, best_q = "fr", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best
