"""The tests render docker/proxy.conf.template exactly as the official nginx image does."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.proxy_server import DEFAULTS, TEMPLATE, render, template_variables


def test_rendering_matches_envsubst_restricted_to_the_given_variables():
    """The image's entrypoint runs envsubst with the defined variables only: nginx's $vars survive."""
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        pytest.fail("envsubst (Debian's gettext-base) is missing; .ci/run installs it")
    text = TEMPLATE.read_text()
    values = {name: f"value-of-{name.lower()}" for name in template_variables(text)}
    shell_format = " ".join(f"${{{name}}}" for name in sorted(values))
    expected = subprocess.run([envsubst, shell_format], input=text, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", **values}, check=True).stdout
    assert render(text, values) == expected
    assert "$ssl_client_s_dn" in expected and "$binary_remote_addr" in expected


def test_a_missing_variable_stops_the_rendering():
    text = TEMPLATE.read_text()
    values = dict(DEFAULTS)
    with pytest.raises(KeyError, match="PROXY_TLS_CERT"):
        render(text, values)
