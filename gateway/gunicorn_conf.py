"""gunicorn settings, taken from the gateway's own configuration.

Sync process workers on purpose: fhirpathpy keeps module-level state
(``now()``/``today()``, the type model), so threads must not share it.
"""
import os
import tempfile

from gateway.config import Settings

_settings = Settings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "sync"
# A worker waits for HAPI at most hapi_read_timeout; leave room to answer 504.
timeout = int(_settings.hapi_connect_timeout + _settings.hapi_read_timeout + 30)
# gunicorn's default control socket (~/.gunicorn/gunicorn.ctl) is one path for every instance of a
# user: a second instance on the host takes it over and the first one's stop deletes it. So there is
# none unless this instance is given its own path.
control_socket_disable = _settings.control_socket is None
if _settings.control_socket is not None:
    control_socket = str(_settings.control_socket)
accesslog = "-"
loglevel = _settings.log_level.lower()
# Load packages and compile the checks once, before forking the workers.
preload_app = True

# Metrics of all workers are summed from files in one directory (see gateway.metrics);
# set before the app (and prometheus_client) is loaded.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tddui-metrics-"))


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the summed metrics."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
