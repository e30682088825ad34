"""The install promise: CI runs exactly the README's two set-up commands, and the tested lock
(constraints.txt) is complete and consistent with pyproject.toml's ranges."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def readme_setup_commands() -> list[str]:
    """The command part (before the comment) of each line of the README's first ```bash block."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README has no ```bash block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)$", line.strip())
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_readme_has_exactly_two_setup_commands_and_ci_runs_them_verbatim():
    commands = readme_setup_commands()
    assert len(commands) == 2, commands
    assert "ov-eval demo" in commands[0] and "pytest" in commands[1]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert "-c constraints.txt" in command, f"README command is not locked: {command}"
        assert command in ci_lines, f".ci/run does not run the README command verbatim: {command}"


def test_lock_pins_every_declared_dependency_within_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    pins = lock()
    for req in declared:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"constraints.txt does not pin {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_lock_and_ranges_exclude_filelock_without_the_private_api_lmms_eval_imports():
    # lmms-eval 0.7.3's evaluator imports filelock._api at the start of every evaluation; 4.3 removed it.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (filelock,) = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "filelock"]
    assert not filelock.specifier.contains("4.3.1")
    assert filelock.specifier.contains(lock()["filelock"])
