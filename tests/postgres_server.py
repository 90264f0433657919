"""A throw-away PostgreSQL server from the Debian binaries, for the production-database path.

The cluster lives in a temporary directory and listens on a free loopback
port. initdb refuses to run as root, so as root the server runs as the
``postgres`` system user.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.hapi_server import free_port

POSTGRES_DIALECT = "ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect"


def postgres_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def require_postgres() -> None:
    """Skip the test when the server binaries are missing; fail instead where CI demands them."""
    if postgres_bin_dir() is None:
        message = "PostgreSQL server binaries are not installed (apt-get install postgresql)"
        if os.environ.get("TDDUI_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)


class PostgresServer:
    """initdb, start, create a database, stop."""

    database = "hapi"
    user = "hapi"
    password = "hapi-test-password"

    def __init__(self):
        self.bin = postgres_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        # Not under pytest's temporary root: that one is private to root (0700).
        self.workdir = Path(tempfile.mkdtemp(prefix="tddui-postgres-"))
        self.data = self.workdir / "pgdata"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{self.database}"

    def hapi_database(self, database: str | None = None) -> dict:
        """``HapiServer`` keyword arguments for one database of this server (created when new)."""
        if database and database != self.database:
            subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                            database], env=dict(os.environ, PGPASSWORD=self.password), check=True,
                           capture_output=True, timeout=120)
        # reWriteBatchedInserts: pgjdbc sends a JDBC batch as multi-row INSERTs (as compose.yaml does)
        url = f"jdbc:postgresql://127.0.0.1:{self.port}/{database or self.database}?reWriteBatchedInserts=true"
        return {"datasource_url": url, "extra_env": {
            "SPRING_DATASOURCE_USERNAME": self.user,
            "SPRING_DATASOURCE_PASSWORD": self.password,
            "SPRING_DATASOURCE_DRIVER_CLASS_NAME": "org.postgresql.Driver",
            "SPRING_JPA_PROPERTIES_HIBERNATE_DIALECT": POSTGRES_DIALECT,
        }}

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Rows of one SQL statement, read with psql straight from the database (no HAPI in between)."""
        answer = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                                 "-d", self.database, "-X", "-A", "-t", "-F", "\t", "-c", sql],
                                env=dict(os.environ, PGPASSWORD=self.password), check=True, capture_output=True,
                                text=True, timeout=120)
        return [tuple(line.split("\t")) for line in answer.stdout.splitlines() if line]

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.as_user:
            shutil.chown(self.workdir, "postgres")
        password_file = self.workdir / "superuser-password"
        password_file.write_text(self.password)
        if self.as_user:
            shutil.chown(password_file, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "scram-sha-256",
                  "--pwfile", str(password_file), "-E", "UTF8", "--no-instructions")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "postgres.log"),
                  "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1", "-w", "start")
        environment = dict(os.environ, PGPASSWORD=self.password)
        for _ in range(30):
            created = subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                                      "-U", self.user, self.database], env=environment, capture_output=True)
            if created.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"could not create database: {created.stderr.decode(errors='replace')}")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                           capture_output=True, timeout=120)
        shutil.rmtree(self.workdir, ignore_errors=True)
