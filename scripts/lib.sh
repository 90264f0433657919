# Shared set-up for the run and test commands: sourced, not executed.
# Creates the virtual environment, installs the gateway and builds the HAPI
# launcher when needed, so both commands work on a fresh machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
HAPI_JAR="$ROOT/hapi-server/target/tddui-hapi-server.jar"
export FHIR_PACKAGE_DIR="$(cd "${FHIR_PACKAGE_DIR:-$ROOT/../shared/fhir-packages}" && pwd)"

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating Python virtual environment in $VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.installed"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing the gateway and its dependencies"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -e "$ROOT[test]"
        touch "$stamp"
    fi
}

build_hapi() {
    # The jar's own timestamp is fixed (reproducible build), so a stamp file
    # records when it was built. Rebuilding replaces the jar under any HAPI
    # still running from it, so it happens only when the sources changed.
    local stamp="$ROOT/hapi-server/target/.built"
    if [ -f "$HAPI_JAR" ] && [ -f "$stamp" ] \
        && [ -z "$(find "$ROOT/hapi-server/pom.xml" "$ROOT/hapi-server/src" -newer "$stamp" -print -quit)" ]; then
        return
    fi
    echo "==> building the HAPI FHIR launcher with Maven (first time: several minutes)"
    mvn -q -B -f "$ROOT/hapi-server/pom.xml" package -DskipTests
    touch "$stamp"
}
