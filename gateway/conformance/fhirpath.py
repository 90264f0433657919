"""FHIRPath as the engine uses it: fhirpathpy 2.2.4, the R4 model, a strict
syntax gate and the FHIR functions fhirpathpy lacks.

Why a gate: ``fhirpathpy.parse`` silently repairs or truncates broken input and
only fails on unknown functions when they run; an invariant that quietly
evaluates to ``[]`` would pass or fail for the wrong reason. Every expression
is therefore re-parsed to EOF with an error listener, its function names are
checked against the registry, and it is compiled once, at start-up.

Process-wide state: fhirpathpy keeps ``now()``/``today()`` and the type model
in module-level objects. The engine compiles everything with one model (R4)
and no invariant it loads may call ``now()``/``today()`` from two threads at
once, hence gunicorn must run sync *process* workers (see docs).
"""
from __future__ import annotations

from collections import abc
from dataclasses import dataclass
from typing import Callable

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.invocations import invocation_registry
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.engine.util import set_paths
from fhirpathpy.models import models
from fhirpathpy.parser import parse
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from gateway.conformance.errors import EngineStartupError
from gateway.conformance.narrative import xhtml_problems

R4 = models["r4"]
PINNED_VERSION = "2.2.4"


def _has_value(inputs: list) -> bool:
    """FHIR ``hasValue()``: a single primitive that carries a value (not only
    extensions). Complex elements have no value."""
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))


def _html_checks(inputs: list) -> bool:
    """FHIR ``htmlChecks()`` (R4 ``txt-1``, ``txt-2``): a single div that is
    valid narrative XHTML (``narrative.xhtml_problems``)."""
    return len(inputs) == 1 and isinstance(inputs[0], str) and not xhtml_problems(inputs[0])


# FHIR additions to FHIRPath that invariants may call (FHIR R4 §2.1.9.x).
FHIR_FUNCTIONS: dict[str, dict] = {
    "hasValue": {"fn": _has_value, "arity": {0: []}},
    "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
}

OPTIONS = {
    "userInvocationTable": FHIR_FUNCTIONS,
    # dom-3 calls trace(): patient data must never reach stdout or the logs.
    "traceFn": lambda label, value: None,
}

# Functions whose result depends on the whole context node rather than on the
# elements an expression names: an expression using one cannot be skipped when
# its named elements are absent.
_CONTEXT_WIDE = {"children", "descendants", "repeat", "now", "today", "timeOfDay",
                 "resolve", "hasValue", "htmlChecks", "trace", "conformsTo", "memberOf"}


_resource_node_init = ResourceNode.__init__


def _resource_node_typed_by_strings_only(self, data, path, _data=None, propName=None, index=None):  # noqa: N803
    """fhirpathpy types any JSON object holding ``resourceType`` by that value;
    a list or object there (a malformed request, reported by the R4 pass)
    then crashes every type test and comparison on the node (``re.match`` on a
    list). Such an object keeps the type of its position instead."""
    _resource_node_init(self, data, path, _data, propName, index)
    if isinstance(data, abc.Mapping) and not isinstance(data.get("resourceType", ""), str):
        self.path = path


ResourceNode.__init__ = _resource_node_typed_by_strings_only  # fhirpathpy is pinned: see PINNED_VERSION


class _RaiseOnError(ErrorListener):
    def __init__(self):
        self.errors: list[str] = []

    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802
        self.errors.append(f"{line}:{column} {msg}")


def syntax_errors(expression: str) -> list[str]:
    """What fhirpathpy's own grammar finds wrong in ``expression``, parsed to EOF."""
    listener = _RaiseOnError()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.entireExpression()
    return listener.errors


def _walk(node: dict):
    yield node
    for child in node.get("children") or ():
        yield from _walk(child)


def _identifier_text(node: dict) -> str:
    """Text of an Identifier node, without backquotes."""
    for sub in _walk(node):
        if sub.get("type") in ("Identifier", "DelimitedIdentifier"):
            return sub["text"].strip("`")
    return node.get("text", "")


def function_names(ast: dict) -> set[str]:
    return {_identifier_text(node) for node in _walk(ast) if node.get("type") == "Functn"}


def root_elements(ast: dict) -> tuple[str, ...] | None:
    """Element names an expression reads from its context, or None when its
    result may depend on more than those (context-wide functions, variables,
    ``$this``, type names): such an expression must always be evaluated."""
    names = set()
    for node in _walk(ast):
        kind = node.get("type")
        if kind == "Functn" and _identifier_text(node) in _CONTEXT_WIDE:
            return None
        if kind in ("ExternalConstantTerm", "ThisInvocation", "IndexInvocation", "TotalInvocation"):
            return None
        if kind == "TermExpression":
            term = node["children"][0]
            if term.get("type") == "InvocationTerm":
                invocation = term["children"][0]
                if invocation.get("type") == "FunctionInvocation":
                    return None  # a function applied to the context itself
                if invocation.get("type") == "MemberInvocation":
                    name = _identifier_text(invocation)
                    if name[:1].isupper():
                        return None  # a type name such as Patient.name
                    names.add(name)
    return tuple(sorted(names))  # a tuple: str.startswith takes it whole


_TRUE, _FALSE, _EMPTY = [True], [False], []


def _logical(result: list) -> list | None:
    """A result as FHIRPath three-valued logic ([true], [false], []), or None."""
    if not result:
        return _EMPTY
    if len(result) == 1 and isinstance(result[0], bool):
        return _TRUE if result[0] else _FALSE
    return None


# operator -> (left value that decides alone, the result it decides, combine both sides)
_SHORT_CIRCUITS = {
    ("OrExpression", "or"): (True, _TRUE, lambda l, r: _TRUE if _TRUE in (l, r) else _FALSE if l == r == _FALSE else _EMPTY),
    ("AndExpression", "and"): (False, _FALSE, lambda l, r: _FALSE if _FALSE in (l, r) else _TRUE if l == r == _TRUE else _EMPTY),
    ("ImpliesExpression", "implies"): (False, _TRUE, lambda l, r: r if l == _TRUE else _TRUE if r == _TRUE else _EMPTY),
}


def _unwrap(node: dict) -> dict:
    """The expression inside ``( … )``."""
    while True:
        children = node.get("children") or ()
        if len(children) == 1 and (node.get("type") == "ParenthesizedTerm" or (
                node.get("type") == "TermExpression" and children[0].get("type") == "ParenthesizedTerm")):
            node = children[0]
        else:
            return node


def _evaluator(node: dict) -> Callable[[object, dict], list]:
    """Compile an AST node. ``or``/``and``/``implies`` evaluate their left side
    first and skip the right one when the left decides (fhirpathpy evaluates
    both; HAPI short-circuits); any result outside three-valued logic falls
    back to fhirpathpy's own evaluation of the whole node."""
    node = _unwrap(node)
    whole = set_paths(fhirpathpy.apply_parsed_path, parsedPath={"children": [node]}, model=R4, options=OPTIONS)
    rule = _SHORT_CIRCUITS.get((node.get("type"), (node.get("terminalNodeText") or [None])[0]))
    if rule is None:
        return whole
    deciding, decided, combine = rule
    left, right = _evaluator(node["children"][0]), _evaluator(node["children"][1])

    def evaluate(data, env):
        left_value = _logical(left(data, env))
        if left_value is None:
            return whole(data, env)
        if left_value == [deciding]:
            return decided
        right_value = _logical(right(data, env))
        return whole(data, env) if right_value is None else combine(left_value, right_value)
    return evaluate


@dataclass(frozen=True)
class CompiledExpression:
    """One FHIRPath expression, parsed and compiled once."""

    text: str
    evaluate: Callable[[object, dict], list]
    roots: tuple[str, ...] | None

    def __call__(self, node, resource: dict) -> list:
        return self.evaluate(node, {"resource": resource, "rootResource": resource})


class FhirPath:
    """Compiles expressions behind the strict gate and caches them by text."""

    def __init__(self):
        if fhirpathpy.__version__ != PINNED_VERSION:
            raise EngineStartupError(
                f"fhirpathpy {PINNED_VERSION} is required, {fhirpathpy.__version__} is installed")
        self._known_functions = set(invocation_registry) | set(FHIR_FUNCTIONS)
        self._cache: dict[str, CompiledExpression] = {}

    def compile(self, expression: str, where: str) -> CompiledExpression:
        """Compile ``expression`` or raise EngineStartupError naming ``where``."""
        if expression in self._cache:
            return self._cache[expression]
        errors = syntax_errors(expression)
        if errors:
            raise EngineStartupError(
                f"{where}: FHIRPath syntax error that fhirpathpy would silently repair: "
                f"{errors[0]} in {expression!r}")
        try:
            ast = parse(expression)
        except Exception as exc:  # noqa: BLE001 - antlr raises bare exceptions
            raise EngineStartupError(f"{where}: cannot parse FHIRPath {expression!r}: {exc}") from exc
        missing = sorted(function_names(ast) - self._known_functions)
        if missing:
            raise EngineStartupError(
                f"{where}: FHIRPath function(s) {', '.join(missing)} not available in fhirpathpy "
                f"{fhirpathpy.__version__} nor provided by the engine, in {expression!r}")
        compiled = CompiledExpression(expression, _evaluator(ast["children"][0]), root_elements(ast))
        self._cache[expression] = compiled
        return compiled

    @property
    def functions_used(self) -> set[str]:
        """Every function name the compiled expressions call (for the suite test)."""
        return set().union(*(function_names(parse(text)) for text in self._cache)) if self._cache else set()


def typed_node(data, type_path: str):
    """A fhirpathpy node for an element, typed by its R4 path or type name, so
    ``children()`` and ``is()`` work on bare element dicts."""
    return ResourceNode.create_node(data, type_path)


def is_true(result: list) -> bool:
    """FHIR invariant semantics (as HAPI's FHIRPathEngine.convertToBoolean):
    only a single ``true`` passes; empty or anything else fails."""
    return len(result) == 1 and result[0] is True
