import pytest

from gateway.config import Settings
from gateway.conformance import ConformanceEngine
from tests.cases import load_examples, package_dir


@pytest.fixture(scope="session")
def engine() -> ConformanceEngine:
    settings = Settings.from_env()
    return ConformanceEngine.load(Settings(package_dir=package_dir(), implementation_guide=settings.implementation_guide))


@pytest.fixture(scope="session")
def examples():
    return load_examples()
