"""`ping` step type for apirun, written in Python.

The step's `with:` block (rendered, as JSON) is the spec:

    {"url": "https://api.example.com/health",   # required, absolute http(s) URL
     "method": "GET",                            # optional, default GET
     "headers": {"Accept": "application/json"},  # optional, mapping or [{name, value}]
     "timeout_ms": 2000,                         # optional
     "status_var": "health_status"}              # optional: set this variable to the status

It sends the request through `host.send` (so the plugin's allowed_hosts,
TLS, retries and masking apply) and returns the response; the host then
checks it against the step's result_code and runs its extraction.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.step import StepInput, StepOutput
from wit_world.imports import host
from wit_world.imports.types import (
    Header,
    HttpRequest,
    PluginError_InvalidConfig,
    Variable,
)

KNOWN_KEYS = ("url", "method", "headers", "timeout_ms", "status_var")
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


def _invalid(message: str) -> Err:
    return Err(PluginError_InvalidConfig("ping: " + message))


def _headers(value) -> list:
    if value is None:
        return []
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(h, dict) and set(h) == {"name", "value"} for h in value
    ):
        pairs = [(h["name"], h["value"]) for h in value]
    else:
        raise _invalid("`headers` must be a mapping or a list of {name, value}")
    out = []
    for name, val in pairs:
        if not isinstance(name, str) or not isinstance(val, (str, int, float, bool)):
            raise _invalid(f"header {name!r}: name and value must be scalars")
        out.append(Header(name=name, value=str(val)))
    return out


class Step(exports.Step):
    def run(self, input: StepInput) -> StepOutput:
        try:
            spec = json.loads(input.spec)
        except ValueError as e:
            raise _invalid(f"spec is not valid JSON: {e}")
        if not isinstance(spec, dict):
            raise _invalid("give the step a `with:` mapping, e.g. with: {url: ...}")
        unknown = sorted(k for k in spec if k not in KNOWN_KEYS)
        if unknown:
            raise _invalid(
                "unknown key(s) " + ", ".join(f"`{k}`" for k in unknown)
                + "; known: " + ", ".join(KNOWN_KEYS)
            )

        url = spec.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _invalid("`url` must be an absolute http(s) URL")
        method = spec.get("method") or "GET"
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise _invalid(f"`method` must be one of {', '.join(METHODS)}")
        method = method.upper()
        timeout_ms = spec.get("timeout_ms")
        if timeout_ms is not None and (
            isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int)
            or not 0 < timeout_ms < 2**32
        ):
            raise _invalid("`timeout_ms` must be a positive integer")
        status_var = spec.get("status_var")
        if status_var is not None and (not isinstance(status_var, str) or not status_var):
            raise _invalid("`status_var` must be a non-empty string")

        host.log(host.LogLevel.DEBUG, f"ping: {method} {url}")
        # A failed send raises Err(PluginError); it propagates unchanged
        # (transport / denied / ...) as this step's error.
        response = host.send(
            HttpRequest(
                method=method,
                url=url,
                headers=_headers(spec.get("headers")),
                body=None,
                timeout_ms=timeout_ms,
                retry=None,
            )
        )
        variables = []
        if status_var:
            variables.append(Variable(name=status_var, value=str(response.status)))
        return StepOutput(response=response, variables=variables)
