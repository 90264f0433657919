"""What the checks produce: issues, collected per request, deduplicated."""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

from gateway.outcome import Issue, Message

log = logging.getLogger(__name__)


class Instance(NamedTuple):
    """One occurrence of an element in the request: its JSON value, the
    ``_name`` object of a primitive, its FHIRPath and, for choices, its type.
    A NamedTuple: the walker makes tens of them per entry."""

    value: Any
    primitive_extras: dict | None
    expression: str
    type: str | None = None


class Findings:
    """Issues of one verdict. The same issue found twice (a snapshot element
    and its type profile often state the same rule) is reported once."""

    def __init__(self):
        self.issues: list[Issue] = []
        self._seen: set[tuple] = set()

    def add(self, severity: str, code: str, fr: str, en: str, expression: str | None, rule: str | None,
            related: tuple[str, ...] = ()) -> None:
        key = (severity, code, expression, rule, en)
        if key not in self._seen:
            self._seen.add(key)
            self.issues.append(Issue(severity, code, Message(fr, en), expression, rule, related))

    def crashed(self, rule: str, expression: str | None, exc: Exception) -> None:
        """A check raised: report it as an error naming the rule, and log it."""
        log.exception("check %s crashed at %s", rule, expression)
        self.add("error", "exception",
                 f"La vérification {rule} n'a pas pu s'exécuter ({type(exc).__name__}).",
                 f"Check {rule} could not run ({type(exc).__name__}).", expression, rule)

    def errors_at(self) -> set[str]:
        return {issue.expression for issue in self.issues if issue.blocking and issue.expression}
