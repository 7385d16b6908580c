#!/usr/bin/env python3
"""Build __NAME__.wasm, the `__NAME__` apirun plugin, with componentize-py.

Usage: python3 build.py

On its first run it creates .venv/ and installs the pinned componentize-py
there. componentize-py compiles src/__MODULE__.py, the apirun SDK (apirun_plugin)
and a CPython interpreter into one WebAssembly component.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMPONENTIZE_PY = "0.25.1"
# apirun's Python SDK: the apirun_plugin package and the WIT it targets.
SDK = Path("__SDK__")
HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
# Only this directory (and the SDK) goes into the component.
SRC = HERE / "src"
WORLD = "__WORLD__"
MODULE = "__MODULE__"
OUTPUT = HERE / "__NAME__.wasm"


def use_sdk() -> None:
    """Put the SDK and src/ on sys.path (the unit tests import the plugin natively)."""
    for path in (str(SDK), str(SRC)):
        if path not in sys.path:
            sys.path.insert(0, path)


def componentize_py() -> Path:
    """The pinned componentize-py, installed into .venv when missing."""
    binary = VENV / ("Scripts" if os.name == "nt" else "bin") / "componentize-py"
    want = f"componentize-py {COMPONENTIZE_PY}"
    try:
        if subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip() == want:
            return binary
    except OSError:
        pass
    print(f"installing {want} into {VENV}", file=sys.stderr)
    # resolve(): .venv may be a link to a shared virtualenv directory.
    subprocess.run([sys.executable, "-m", "venv", str(VENV.resolve())], check=True)
    python = VENV / ("Scripts" if os.name == "nt" else "bin") / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"componentize-py=={COMPONENTIZE_PY}"],
        check=True,
    )
    return binary


def main() -> int:
    if not (SDK / "apirun_plugin" / "__init__.py").is_file():
        print(f"error: apirun's Python SDK is not at {SDK}; edit SDK in build.py", file=sys.stderr)
        return 1
    tool = componentize_py()
    started = time.monotonic()
    # No VIRTUAL_ENV/PYTHONPATH: only this directory and the SDK go into the component.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    tmp = OUTPUT.with_suffix(".wasm.tmp")
    result = subprocess.run(
        [
            tool, "--quiet",
            "-d", str(SDK / "apirun_plugin" / "wit"),
            "-w", WORLD,
            "componentize", "-p", str(SRC), "-p", str(SDK), MODULE,
            "-o", str(tmp),
        ],
        cwd=HERE,
        env=env,
    )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        return result.returncode
    tmp.replace(OUTPUT)
    shutil.rmtree(SRC / "__pycache__", ignore_errors=True)
    size = OUTPUT.stat().st_size // 1024
    print(f"built {OUTPUT.name} ({size} KiB) in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
