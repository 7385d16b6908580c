"""`__NAME__`: an auth provider. Its `config: {token}` becomes
`Authorization: Bearer <token>`; `{{.auth.<provider name>}}` renders the token."""

import apirun_plugin as apirun


def acquire(request: apirun.AcquireInput) -> apirun.Credential:
    """The plugin's logic (no host calls), so the unit test runs it natively."""
    token = str(request.provider_config.get("token") or "").strip()
    if not token:
        raise apirun.InvalidConfig("`token` is missing or empty; set config.token")
    return apirun.Credential.bearer(token)


# componentize-py exports the classes named after the world's interfaces.
Auth, Metadata = apirun.export_auth(
    acquire,
    name="__NAME__",
    version="0.1.0",
    description="a bearer token from config.token",
)
