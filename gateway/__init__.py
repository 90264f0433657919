"""TDDUI Gateway: the receiving end (Consommateur) of the TDDUI Flux 1 transaction.

A request flows one way through the stage modules:
intake (parse and limits) -> auth -> normalise -> conformance (TDDUI checks)
-> hapi (forward) -> relay (answer). ``app`` wires the stages together;
``outcome`` is the only place that builds OperationOutcomes and ``config``
the only place that reads the environment.
"""
