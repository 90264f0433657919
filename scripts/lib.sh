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

# Builds a Maven project when its pom or sources changed since its last build, or OUTPUT is missing.
maven_build() {  # project directory, OUTPUT file, what it is (for the message)
    local project="$1" output="$2" stamp="$1/target/.built"
    if [ -f "$output" ] && [ -f "$stamp" ] \
        && [ -z "$(find "$project/pom.xml" "$project/src" -newer "$stamp" -print -quit)" ]; then
        return
    fi
    echo "==> building $3 with Maven"
    mvn -q -B -f "$project/pom.xml" package -DskipTests
    touch "$stamp"
}

build_hapi() {
    # The jar's own timestamp is fixed (reproducible build), so a stamp file
    # records when it was built. Rebuilding replaces the jar under any HAPI
    # still running from it, so it happens only when the sources changed.
    maven_build "$ROOT/hapi-server" "$HAPI_JAR" "the HAPI FHIR launcher (first time: several minutes)"
}

# The producers' client libraries that tests/clients drives: HAPI's Java client (compiled
# against the launcher's HAPI artifacts) and fhir-kit-client (npm ci from the committed lock;
# nothing is fetched again while the lock is unchanged, so it works offline once installed).
setup_client_libraries() {
    maven_build "$ROOT/tests/clients/java" "$ROOT/tests/clients/java/target/classpath.txt" "HAPI's Java client scenario"
    local js="$ROOT/tests/clients/js" stamp="$ROOT/tests/clients/js/node_modules/.installed"
    if [ ! -f "$stamp" ] || [ "$js/package-lock.json" -nt "$stamp" ]; then
        echo "==> installing fhir-kit-client (npm ci)"
        (cd "$js" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
}
