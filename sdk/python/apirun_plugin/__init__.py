"""Write apirun plugins in Python (componentize-py).

A plugin is a module with plain functions; ``export_step``, ``export_auth``
or ``export_extractor`` turns them into the classes componentize-py exports::

    import apirun_plugin as apirun

    def acquire(request: apirun.AcquireInput) -> apirun.Credential:
        token = request.provider_config.get("token")
        if not token:
            raise apirun.InvalidConfig("`token` is missing; set config.token")
        return apirun.Credential.bearer(token)

    Auth, Metadata = apirun.export_auth(acquire, name="my-auth", version="0.1.0")

The WIT this SDK targets ships in ``apirun_plugin/wit`` (pass it to
componentize-py with ``-d``). Errors are exceptions: raise ``InvalidConfig``,
``Failed``, ``Denied`` or ``Transport``; any other exception fails the call
as ``failed`` naming it. The module imports without componentize-py's
bindings, so the plugin's logic can be unit-tested with plain ``python3``.
See docs/plugins/python.md.
"""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

__all__ = [
    "CONTRACT_VERSION",
    "PluginError",
    "InvalidConfig",
    "Transport",
    "Denied",
    "Failed",
    "Response",
    "StepInput",
    "StepResult",
    "AcquireInput",
    "Credential",
    "ExtractInput",
    "send",
    "log",
    "export_step",
    "export_auth",
    "export_extractor",
]

#: The version of the apirun:plugin contract (wit/plugin.wit) this SDK targets.
CONTRACT_VERSION = "0.2.0"


# ---------------------------------------------------------------- errors


class PluginError(Exception):
    """A plugin error; apirun shows the message, prefixed with the plugin's name."""

    case = "failed"


class InvalidConfig(PluginError):
    """The input or configuration is wrong: the user must fix a file. Name the key."""

    case = "invalid-config"


class Transport(PluginError):
    """No answer came (DNS, connect, reset, timeout)."""

    case = "transport"


class Denied(PluginError):
    """A policy refused the operation (e.g. a host outside allowed_hosts)."""

    case = "denied"


class Failed(PluginError):
    """Anything else."""

    case = "failed"


_BY_CASE = {c.case: c for c in (InvalidConfig, Transport, Denied, Failed)}


def _to_wit_error(error: BaseException):
    """A Python exception as the WIT plugin-error, wrapped in componentize-py's Err."""
    from componentize_py_types import Err
    from wit_world.imports import types

    if isinstance(error, PluginError):
        message = str(error)
        case = error.case
    else:
        message = f"{type(error).__name__}: {error}"
        case = "failed"
    cls = {
        "invalid-config": types.PluginError_InvalidConfig,
        "transport": types.PluginError_Transport,
        "denied": types.PluginError_Denied,
    }.get(case, types.PluginError_Failed)
    return Err(cls(message))


def _from_wit_error(error: Any) -> PluginError:
    """componentize-py raises Err(plugin-error) from a host call: back to ours."""
    value = getattr(error, "value", error)
    name = type(value).__name__
    message = str(getattr(value, "value", value))
    for suffix, cls in (
        ("InvalidConfig", InvalidConfig),
        ("Transport", Transport),
        ("Denied", Denied),
    ):
        if name.endswith(suffix):
            return cls(message)
    return Failed(message)


def _parse_json(text: str, what: str) -> Any:
    """JSON handed over by apirun; an absent block ("null") is {}."""
    text = (text or "").strip()
    if text in ("", "null"):
        return {}
    try:
        return _json.loads(text)
    except ValueError as e:
        raise InvalidConfig(f"{what} is not valid JSON: {e}") from None


# ---------------------------------------------------------------- host


class _Body:
    """`header` and `text` for what has `headers` and a `body` (a
    :class:`Response`, an :class:`ExtractInput`)."""

    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """The first header of that name (case-insensitive)."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def text(self) -> str:
        """The body as text, invalid UTF-8 replaced."""
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Response(_Body):
    """What the server answered. Any status is a response, not an error."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Failed(f"the {self.status} answer is not JSON: {e}") from None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def _to_wit(self):
        from wit_world.imports import types

        return types.HttpResponse(
            status=self.status,
            headers=[types.Header(name=k, value=v) for k, v in self.headers],
            body=bytes(self.body),
        )

    @staticmethod
    def _from_wit(response: Any) -> "Response":
        return Response(
            status=response.status,
            headers=[(h.name, h.value) for h in response.headers],
            body=bytes(response.body),
        )


def send(
    method: str,
    url: str,
    *,
    headers: Optional[dict[str, str] | Iterable[tuple[str, str]]] = None,
    body: Optional[bytes | str] = None,
    json: Any = None,
    timeout_ms: Optional[int] = None,
    retry: Optional[bool] = None,
) -> Response:
    """Send an HTTP request through apirun (``host.send``).

    apirun checks ``url`` against the plugin's ``allowed_hosts`` (a refusal
    raises ``Denied``) and applies the stage's TLS, timeout and retry
    settings. ``json=`` sends a JSON body with its Content-Type. A request
    that gets no answer raises ``Transport``.
    """
    from componentize_py_types import Err
    from wit_world.imports import host, types

    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if json is not None:
        body = _json.dumps(json).encode()
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("Content-Type", "application/json"))
    if isinstance(body, str):
        body = body.encode()
    request = types.HttpRequest(
        method=method.upper(),
        url=url,
        headers=[types.Header(name=k, value=v) for k, v in pairs],
        body=body,
        timeout_ms=timeout_ms,
        retry=retry,
        follow_redirects=None,
    )
    try:
        return Response._from_wit(host.send(request))
    except Err as e:
        raise _from_wit_error(e) from None


class log:
    """Log lines through apirun (masked, attributed to the plugin); stdout is discarded."""

    @staticmethod
    def _write(level: str, message: str) -> None:
        try:
            from wit_world.imports import host
        except ImportError:  # outside a component (unit tests): print instead
            print(f"{level}: {message}")
            return
        host.log(getattr(host.LogLevel, level.upper()), message)

    @staticmethod
    def debug(message: str) -> None:
        log._write("debug", message)

    @staticmethod
    def info(message: str) -> None:
        log._write("info", message)

    @staticmethod
    def warn(message: str) -> None:
        log._write("warn", message)

    @staticmethod
    def error(message: str) -> None:
        log._write("error", message)


# ---------------------------------------------------------------- worlds


@dataclass
class StepInput:
    """A step's input: ``spec`` is the rendered ``with:`` block (a dict)."""

    spec: dict
    config: Any = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    """``response`` is what apirun checks against result_code and extracts from
    (None: nothing to check); ``variables`` are set for later steps."""

    response: Optional[Response] = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class AcquireInput:
    """``provider_config``: the auth entry's rendered ``config:``; ``config``: the
    plugin's own ``config:``; ``state``: what the previous acquire returned."""

    provider_config: dict
    config: Any = None
    state: Optional[str] = None


@dataclass
class Credential:
    header_name: str
    header_value: str
    token: str
    expires_in_secs: Optional[int] = None
    state: Optional[str] = None

    @staticmethod
    def bearer(token: str, expires_in_secs: Optional[int] = None) -> "Credential":
        """``Authorization: Bearer <token>``; ``{{.auth.<name>}}`` renders the token."""
        return Credential("Authorization", f"Bearer {token}", token, expires_in_secs)


@dataclass
class ExtractInput(_Body):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_type: Optional[str] = None
    config: Any = None

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Failed(f"the response body is not JSON: {e}") from None


def _metadata_class(name: str, version: str, description: str):
    class Metadata:
        def metadata(self):
            from wit_world.exports.metadata import PluginMetadata

            return PluginMetadata(name=name, version=version, description=description)

    return Metadata


def _guard(call: Callable[[], Any]) -> Any:
    """Run the plugin's function; every exception becomes a plugin-error."""
    try:
        return call()
    except BaseException as e:  # noqa: BLE001 - an uncaught exception would trap
        raise _to_wit_error(e) from None


def export_step(
    run: Callable[[StepInput], StepResult],
    *,
    name: str,
    version: str = "0.1.0",
    description: str = "",
    declares: Iterable[tuple[str, str]] = (),
):
    """The ``Step`` and ``Metadata`` classes for a step plugin: assign them at
    module level (``Step, Metadata = export_step(run, name=...)``).
    ``declares``: (name, description) of the variables ``run`` sets, so that
    ``apirun validate`` knows them."""
    declared = list(declares)

    class Step:
        def run(self, input):
            def call():
                from wit_world.exports import step as wit

                spec = input.spec
                if isinstance(spec, wit.StepSpec_Http):
                    raise InvalidConfig("this plugin is a custom step type; it was used as the `http` step")
                result = run(
                    StepInput(
                        spec=_parse_json(spec.value, "the step's `with:` block"),
                        config=_json.loads(input.config or "null"),
                        variables={v.name: v.value for v in input.variables},
                    )
                )
                if result is None:
                    result = StepResult()
                from wit_world.imports import types

                return wit.StepOutput(
                    response=result.response._to_wit() if result.response else None,
                    variables=[types.Variable(name=k, value=str(v)) for k, v in result.variables.items()],
                )

            return _guard(call)

        def declared_variables(self, spec, config):
            from wit_world.exports import step as wit

            return [wit.VariableDeclaration(name=n, description=d) for n, d in declared]

    return Step, _metadata_class(name, version, description)


def export_auth(
    acquire: Callable[[AcquireInput], Credential],
    *,
    name: str,
    version: str = "0.1.0",
    description: str = "",
):
    """The ``Auth`` and ``Metadata`` classes for an auth plugin
    (``Auth, Metadata = export_auth(acquire, name=...)``)."""

    class Auth:
        def acquire(self, input):
            def call():
                from wit_world.exports import auth as wit

                credential = acquire(
                    AcquireInput(
                        provider_config=_parse_json(input.provider_config, "the auth provider's `config:`"),
                        config=_json.loads(input.config or "null"),
                        state=input.state,
                    )
                )
                return wit.Credential(
                    header_name=credential.header_name,
                    header_value=credential.header_value,
                    token=credential.token,
                    expires_in_secs=credential.expires_in_secs,
                    state=credential.state,
                )

            return _guard(call)

    return Auth, _metadata_class(name, version, description)


def export_extractor(
    extract: Callable[[ExtractInput, list[str]], list[Optional[str]]],
    *,
    name: str,
    version: str = "0.1.0",
    description: str = "",
):
    """The ``Extractor`` and ``Metadata`` classes for an extractor
    (``Extractor, Metadata = export_extractor(extract, name=...)``).
    ``extract`` returns one value per path, ``None`` for "not present"."""

    class Extractor:
        def extract(self, input, paths):
            def call():
                values = extract(
                    ExtractInput(
                        status=input.status,
                        headers=[(h.name, h.value) for h in input.headers],
                        body=bytes(input.body),
                        content_type=input.content_type,
                        config=_json.loads(input.config or "null"),
                    ),
                    list(paths),
                )
                values = list(values)
                if len(values) != len(paths):
                    raise Failed(f"returned {len(values)} values for {len(paths)} paths")
                return [None if v is None else str(v) for v in values]

            return _guard(call)

    return Extractor, _metadata_class(name, version, description)
