"""FHIR R4 core datatype invariants that the package snapshots do not repeat.

R4 core itself is not in the package set (HAPI carries it). The IG publisher
copies a datatype's invariants into a snapshot only for profiled datatypes, so
``per-1`` on ``Encounter.period`` appears in TDDUIEncounterSejour only as a
``condition``. These rows are the R4 definitions (datatypes.html), applied to
every element of that type.
"""

R4_DATATYPE_INVARIANTS: dict[str, tuple[dict, ...]] = {
    "Period": ({"key": "per-1", "severity": "error",
                "human": "If present, start SHALL have a lower value than end",
                "expression": "start.hasValue().not() or end.hasValue().not() or (start <= end)"},),
    "Quantity": ({"key": "qty-3", "severity": "error",
                  "human": "If a code for the unit is present, the system SHALL also be present",
                  "expression": "code.empty() or system.exists()"},),
    "Attachment": ({"key": "att-1", "severity": "error",
                    "human": "If the Attachment has data, it SHALL have a contentType",
                    "expression": "data.empty() or contentType.exists()"},),
}
