"""`static_token` auth provider for apirun, written in Python.

Config (the auth entry's rendered `config:` block, as JSON):

    {"token": "...",                  # required, non-empty
     "header": "X-Api-Key",           # optional, default "Authorization"
     "prefix": "Bearer "}             # optional, default "Bearer " when the
                                      # header is Authorization, else ""

Returns the credential `header: prefix + token`; `{{.auth.<name>}}` renders
the bare token. A missing or empty token, an unknown key or a malformed value
is an `invalid-config` error. Calls `host.log` once per credential issued.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.auth import Credential
from wit_world.imports import host
from wit_world.imports.types import PluginError_InvalidConfig

DEFAULT_HEADER = "Authorization"
KNOWN_KEYS = ("token", "header", "prefix")
# RFC 9110 token characters: what a header name may contain.
TCHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _invalid(message: str) -> Err:
    return Err(PluginError_InvalidConfig("static_token: " + message))


def _optional_string(config: dict, key: str):
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"`{key}` must be a string, found {type(value).__name__}")
    return value


def _check_header_value(key: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise _invalid(f"`{key}` must not contain CR, LF or NUL")


class Auth(exports.Auth):
    def acquire(self, config: str) -> Credential:
        try:
            parsed = json.loads(config)
        except ValueError as e:
            raise _invalid(f"config is not valid JSON: {e}")
        if parsed is None:
            parsed = {}
        if not isinstance(parsed, dict):
            raise _invalid("config must be a mapping such as {token: ..., header: X-Api-Key}")
        unknown = sorted(k for k in parsed if k not in KNOWN_KEYS)
        if unknown:
            raise _invalid(
                "unknown key(s) " + ", ".join(f"`{k}`" for k in unknown)
                + "; known: " + ", ".join(KNOWN_KEYS)
            )

        token = _optional_string(parsed, "token")
        if not token:
            raise _invalid("`token` is missing or empty")
        _check_header_value("token", token)

        header = _optional_string(parsed, "header")
        if header is None:
            header = DEFAULT_HEADER
        header = header.strip()
        if not header or any(c not in TCHARS for c in header):
            raise _invalid(f"`header` {header!r} is not a valid header name")

        prefix = _optional_string(parsed, "prefix")
        if prefix is None:
            prefix = "Bearer " if header.lower() == "authorization" else ""
        _check_header_value("prefix", prefix)

        host.log(host.LogLevel.INFO, "issuing static token")
        return Credential(
            header_name=header,
            header_value=prefix + token,
            token=token,
            expires_in_secs=None,
        )
