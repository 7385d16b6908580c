"""`__NAME__`: an extractor. A path is dot-separated keys and array indexes
into a JSON body (`spec.size`, `items.0.id`); strings come out as they are,
other values as JSON text, and a missing path is None."""

import json
from typing import Any, Optional

import apirun_plugin as apirun


def lookup(body: Any, path: str) -> Optional[str]:
    """The plugin's logic (no host calls), so the unit test runs it natively."""
    current = body
    for key in filter(None, path.split(".")):
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return None
    if current is None:
        return None
    return current if isinstance(current, str) else json.dumps(current)


def extract(response: apirun.ExtractInput, paths: list[str]) -> list[Optional[str]]:
    body = response.json()
    return [lookup(body, path) for path in paths]


# componentize-py exports the classes named after the world's interfaces.
Extractor, Metadata = apirun.export_extractor(
    extract,
    name="__NAME__",
    version="0.1.0",
    description="dot-separated paths into a JSON body",
)
