"""The one exception the engine raises: at start-up, never per request."""


class EngineStartupError(Exception):
    """The packages cannot be turned into checks (missing profile, broken
    FHIRPath, unsupported slicing...): the gateway must not start."""
