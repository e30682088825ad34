"""Package discovery and build steps that pyproject.toml alone cannot express.

`task_configs/` and `reports/` sit at the top of the repository but install as
`ov_eval.task_configs` / `ov_eval.reports` (see `package-dir` in pyproject.toml), so
find_packages() must be extended with the two mapped names.

The tested lock, `constraints.txt`, also sits at the top (where `pip install -e . -c
constraints.txt` finds it); a built wheel carries a copy as `ov_eval/constraints.txt` so
that `ov-eval doctor` in a non-editable install can compare against it.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

LOCK = Path(__file__).resolve().parent / "constraints.txt"


class BuildPyWithLock(build_py):
    def run(self) -> None:
        super().run()
        if LOCK.is_file() and not getattr(self, "editable_mode", False):
            target = Path(self.build_lib) / "ov_eval" / LOCK.name
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(LOCK), str(target))


setup(
    packages=[*find_packages(include=["ov_eval", "ov_eval.*"]), "ov_eval.task_configs", "ov_eval.reports"],
    cmdclass={"build_py": BuildPyWithLock},
)
