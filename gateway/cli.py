"""Command line of the gateway. ``tddui-gateway validate FILE...`` checks
bundles offline, with the very engine the server uses (intake -> normalise ->
conformance engine), without HAPI; ``tddui-gateway purge-audit`` deletes the
AuditEvents past the retention period. Each subcommand is one function."""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import requests

from gateway import audit_event
from gateway.config import ConfigurationError, Settings
from gateway.conformance import ConformanceEngine, EngineStartupError
from gateway.intake import Limits, Rejected, parse_bundle, read_body
from gateway.outcome import LANGUAGES, Issue, single, verdict_outcome

EXIT_VALID, EXIT_INVALID, EXIT_CANNOT_RUN = 0, 1, 2
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.?")


def judge_file(engine: ConformanceEngine, path: Path, limits: Limits) -> list[Issue]:
    """Every issue of one file, intake refusals (the server's limits) and unreadable files included."""
    try:
        with path.open("rb") as stream:
            raw = read_body(stream, path.stat().st_size, limits)
        bundle = parse_bundle(raw, limits)
    except OSError as exc:
        return [single("error", "not-found", f"Fichier illisible : {exc.strerror}.",
                       f"Cannot read the file: {exc.strerror}.", rule="cli-file")]
    except Rejected as refusal:
        return refusal.issues
    return engine.judge(bundle).issues


def issue_line(path: Path, issue: Issue, language: str) -> str:
    """``file: entry N: element: severity: message [rule]``."""
    expression = issue.expression or ""
    entry = _ENTRY.match(expression)
    element = expression[entry.end():] if entry else expression
    return (f"{path}: entry {entry.group(1) if entry else '-'}: {element or '-'}: {issue.severity}: "
            f"{issue.message.text(language)}" + (f" [{issue.rule}]" if issue.rule else ""))


def settings_for(args: argparse.Namespace) -> Settings:
    """The environment's settings, the release given by ``--ig`` when there is one."""
    settings = Settings.from_env()
    return replace(settings, implementation_guide=args.ig) if args.ig else settings


def validate(args: argparse.Namespace) -> int:
    """The ``validate`` subcommand: 0 when every file is valid, 1 otherwise."""
    try:
        settings = settings_for(args)
        engine = ConformanceEngine.load(settings)
    except (EngineStartupError, ConfigurationError) as exc:
        print(f"tddui-gateway: cannot start the conformance engine: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    all_valid = True
    for name in args.files:
        path = Path(name)
        issues = judge_file(engine, path, Limits.of(settings))
        valid = not any(issue.blocking for issue in issues)
        all_valid &= valid
        if args.format == "json":
            print(json.dumps(verdict_outcome(issues, args.lang), ensure_ascii=False,
                             indent=2 if len(args.files) == 1 else None))
            continue
        for issue in issues:
            print(issue_line(path, issue, args.lang))
        verdict = {"fr": "valide" if valid else "invalide", "en": "valid" if valid else "invalid"}[args.lang]
        print(f"{path}: {verdict}")
    return EXIT_VALID if all_valid else EXIT_INVALID


def purge_audit(args: argparse.Namespace) -> int:
    """The ``purge-audit`` subcommand: delete the AuditEvents older than the retention period."""
    settings = Settings.from_env()
    days = args.days or settings.audit_retention_days
    try:
        deleted = audit_event.purge(settings.hapi_base_url, days)
    except requests.RequestException as exc:
        print(f"tddui-gateway: cannot purge the audit trail at {settings.hapi_base_url}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(f"{deleted} AuditEvent(s) older than {days} days deleted")
    return 0


def rules(args: argparse.Namespace) -> int:
    """The ``rules`` subcommand: the compiled rules as JSON, stable for ``diff``."""
    try:
        engine = ConformanceEngine.load(settings_for(args))
    except (EngineStartupError, ConfigurationError) as exc:
        print(f"tddui-gateway: cannot start the conformance engine: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(json.dumps(engine.describe(), ensure_ascii=False, indent=1, sort_keys=True))
    return EXIT_VALID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tddui-gateway", description="TDDUI Flux 1 gateway.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    checker = commands.add_parser(
        "validate", help="check TDDUI bundles offline (no HAPI)",
        description="Check TDDUI transaction bundles offline with the gateway's conformance engine. "
                    "Exit status: 0 all valid, 1 an issue blocks a file, 2 the engine cannot start.")
    checker.add_argument("files", nargs="+", metavar="FILE", help="JSON Bundle file")
    checker.add_argument("--format", choices=("text", "json"), default="text",
                         help="text: one line per issue; json: the OperationOutcome (one per line for several files)")
    checker.add_argument("--lang", choices=LANGUAGES, default="fr", help="language of the diagnostics (default fr)")
    checker.add_argument("--ig", metavar="NAME#VERSION", help="the TDDUI release to check against (default TDDUI_IG)")
    checker.set_defaults(handler=validate)
    purger = commands.add_parser(
        "purge-audit", help="delete AuditEvents past the retention period",
        description="Delete from HAPI (HAPI_BASE_URL) the gateway's AuditEvents recorded more than "
                    "GATEWAY_AUDIT_RETENTION_DAYS days ago (183 by default: the 6 months ANS asks). "
                    "Run it daily, e.g. from cron. Exit status: 0 done, 2 HAPI unreachable or refusing.")
    purger.add_argument("--days", type=int, help="retention in days, overriding GATEWAY_AUDIT_RETENTION_DAYS")
    purger.set_defaults(handler=purge_audit)
    printer = commands.add_parser(
        "rules", help="print the compiled rules as JSON (to diff two IG versions)",
        description="Print what the engine compiled from the packages and the IG-version descriptor "
                    "(TDDUI_IG): closure, profiles' rules, business rules, tolerated gaps; as sorted JSON.")
    printer.add_argument("--ig", metavar="NAME#VERSION", help="the TDDUI release (default TDDUI_IG)")
    printer.set_defaults(handler=rules)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
