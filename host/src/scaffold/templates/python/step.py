"""`__NAME__`: a step type. With `with: {url, name}` it POSTs
{"greeting": "hello <name>"} to `url` and sets the variable `greeting`.
The step's response is what `result_code` and `env_from` apply to."""

import apirun_plugin as apirun


def greeting(spec: dict) -> str:
    """The plugin's logic, free of host calls so that the unit test runs it natively."""
    name = str(spec.get("name") or "world").strip()
    if not name:
        raise apirun.InvalidConfig("`with.name` is empty; give a name or leave it out")
    return f"hello {name}"


def run(step: apirun.StepInput) -> apirun.StepResult:
    url = step.spec.get("url")
    if not isinstance(url, str) or not url:
        raise apirun.InvalidConfig("`with.url` is required")
    text = greeting(step.spec)
    apirun.log.info(f"POST {url}")
    # host.send: apirun checks the URL against this plugin's allowed_hosts.
    response = apirun.send("POST", url, json={"greeting": text})
    return apirun.StepResult(response=response, variables={"greeting": text})


# componentize-py exports the classes named after the world's interfaces.
Step, Metadata = apirun.export_step(
    run,
    name="__NAME__",
    version="0.1.0",
    description="POSTs a greeting and sets `greeting`",
    declares=[("greeting", "the greeting sent")],
)
