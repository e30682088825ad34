"""Package discovery and build steps that pyproject.toml alone cannot express.

`task_configs/` and `reports/` sit at the top of the repository but install as
`ov_eval.task_configs` / `ov_eval.reports` (see `package-dir` in pyproject.toml), so
find_packages() must be extended with the two mapped names.

A built (non-editable) package also carries what a checkout can tell at run time:
* the tested lock, `constraints.txt` (at the top, where `pip install -e . -c constraints.txt`
  finds it), as `ov_eval/constraints.txt`, so that `ov-eval doctor` can compare against it;
* the commit it was built from, as `ov_eval/BUILD_COMMIT`, when built from a git checkout
  (`pip install git+https://...` builds from a clone), so results record it (ov_eval/provenance.py).
"""

import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
LOCK = ROOT / "constraints.txt"


def _commit() -> str | None:
    if not (ROOT / ".git").exists():  # never the commit of some enclosing repository
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


class BuildPyWithLock(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # a checkout reads both live
            return
        package = Path(self.build_lib) / "ov_eval"
        package.mkdir(parents=True, exist_ok=True)
        if LOCK.is_file():
            self.copy_file(str(LOCK), str(package / LOCK.name))
        commit = _commit()
        if commit:
            (package / "BUILD_COMMIT").write_text(commit + "\n")


setup(
    packages=[*find_packages(include=["ov_eval", "ov_eval.*"]), "ov_eval.task_configs", "ov_eval.reports"],
    cmdclass={"build_py": BuildPyWithLock},
)
