"""``ov-eval doctor``: can this installation run a ten-hour job? Answered in seconds, before it starts.

A fresh ``pip install`` resolves whatever its dependencies released last night, and a
machine that installed earlier keeps what it had, so "works on my machine" says little.
The doctor reports what matters for a run, one line per finding, and every problem
with its fix:

* Python; torch, CUDA and every visible GPU with its memory;
* the versions of torch/transformers/lmms-eval/datasets/filelock/... against the
  tested lock (``constraints.txt``, see ``tested_lock``), and the **known-bad
  combinations** (``KNOWN_BAD``, a table: each row names the versions, why they
  break and the fix), plus the private modules lmms-eval imports (``PRIVATE_MODULES``),
  checked by file so that a release which drops one is caught before any row names it;
* ov-eval's registration with lmms-eval; flash-attn; decord / PyAV; Chromium (only for
  ``scripts/screenshot_report.sh``); the judge settings (whether a key is present —
  never the key);
* with ``--tasks``: whether ``OV_EVAL_DATA_DIR``, the Hugging Face cache or the hub can
  serve each task's dataset (``dataset_findings``).

Exit status 1 when there is a problem (``FAIL``), else 0; ``--strict`` also fails on
warnings. ``ov-eval run`` runs the cheap blocking part first (``blocking_problems``: no
torch import) and refuses a known-broken environment with the same lines.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

OK, WARN, FAIL = "ok", "warn", "FAIL"
LOCK_FILE = "constraints.txt"
MIN_PYTHON = (3, 10)
# Compared with the tested lock when it pins them: what a run's numbers and its start-up depend on.
LOCKED_PACKAGES = (
    "torch",
    "transformers",
    "lmms-eval",
    "datasets",
    "filelock",
    "accelerate",
    "huggingface-hub",
    "tokenizers",
)
INSTALL_WITH_LOCK = "pip install -e . -c constraints.txt (the tested versions)"


@dataclass(frozen=True)
class Finding:
    level: str  # OK, WARN or FAIL
    what: str
    fix: str = ""

    def line(self) -> str:
        text = f"[{self.level}] {self.what}"
        return f"{text} -> fix: {self.fix}" if self.fix else text


@dataclass(frozen=True)
class KnownBad:
    """Installed versions known to break a run: ``package`` in ``versions`` while every ``when`` matches."""

    package: str
    versions: str  # PEP 440 specifier of the broken releases
    when: tuple[tuple[str, str], ...]  # (other package, its specifier) that must also match
    why: str
    fix: str


# Only rows with evidence (a failing import or run); docs/install.md records how each was found.
KNOWN_BAD: tuple[KnownBad, ...] = (
    KnownBad(
        package="filelock",
        versions=">=4.3",
        when=(("lmms-eval", "<0.7.4"),),
        why="lmms-eval 0.7.3's evaluator imports filelock._api (in _enable_reentrant_filelocks, at the start "
        "of every evaluation) and filelock 4.3 removed that module: every run stops with "
        "ModuleNotFoundError: No module named 'filelock._api'",
        fix="pip install 'filelock<4.3'",
    ),
)

# Private modules of other packages that the lmms-eval release we run imports: (distribution,
# module, who imports it). A release that drops one breaks every run, whatever its version number.
PRIVATE_MODULES: tuple[tuple[str, str, str], ...] = (
    ("filelock", "filelock._api", "lmms-eval's evaluator (_enable_reentrant_filelocks)"),
    ("datasets", "datasets.utils._filelock", "lmms-eval's evaluator (_enable_reentrant_filelocks)"),
)


def normalize(name: str) -> str:
    """PEP 503 name: ``lmms_eval`` and ``LMMS-Eval`` are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Installed:
    """What is installed, by distribution name: the one seam the tests replace."""

    def version(self, dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    def ships(self, dist: str, module: str) -> bool | None:
        """Whether ``dist``'s installed files include ``module`` (None: cannot tell, e.g. no RECORD)."""
        try:
            files = metadata.distribution(dist).files
        except metadata.PackageNotFoundError:
            return None
        if not files:
            return None
        stem = module.replace(".", "/")
        wanted = {f"{stem}.py", f"{stem}/__init__.py"}
        return any(str(f).replace("\\", "/") in wanted for f in files)


def _matches(version: str | None, spec: str) -> bool:
    if version is None:
        return False
    try:
        return SpecifierSet(spec).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def python_findings(version_info: tuple[int, ...] = tuple(sys.version_info)) -> list[Finding]:
    shown = ".".join(map(str, version_info[:3]))
    if tuple(version_info[:2]) < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return [Finding(FAIL, f"Python {shown}: ov-eval needs >= {need}", f"use Python >= {need}")]
    return [Finding(OK, f"Python {shown} ({sys.executable})")]


def known_bad_findings(installed: Installed) -> list[Finding]:
    found = []
    for row in KNOWN_BAD:
        version = installed.version(row.package)
        if _matches(version, row.versions) and all(
            _matches(installed.version(other), spec) for other, spec in row.when
        ):
            context = "".join(f", with {other} {installed.version(other)}" for other, _ in row.when)
            found.append(
                Finding(FAIL, f"{row.package} {version}{context}, is known to break: {row.why}", row.fix)
            )
    return found


def private_module_findings(installed: Installed, reported: Iterable[str] = ()) -> list[Finding]:
    """A private module lmms-eval imports is missing from the installed package (not already named)."""
    skip = {normalize(name) for name in reported}
    found = []
    for dist, module, user in PRIVATE_MODULES:
        if normalize(dist) in skip or installed.ships(dist, module) is not False:
            continue
        found.append(
            Finding(
                FAIL,
                f"{dist} {installed.version(dist)} has no module {module}, which {user} imports: runs will fail",
                f"install the tested version: {INSTALL_WITH_LOCK}",
            )
        )
    return found


def blocking_problems(installed: Installed | None = None) -> list[Finding]:
    """The problems that make any evaluation fail: cheap (package metadata only, no torch import),
    so ``ov-eval run`` checks them before starting lmms-eval."""
    installed = installed or Installed()
    problems = [f for f in python_findings() if f.level == FAIL]
    bad = known_bad_findings(installed)
    named = [f.what.split()[0] for f in bad]  # each line starts with the package's name
    return problems + bad + private_module_findings(installed, named)


def refuse_known_broken(command: str) -> bool:
    """For commands that start lmms-eval: print the blocking problems (as ``ov-eval doctor`` words
    them, prefixed with ``command``) to stderr and say whether to refuse."""
    problems = blocking_problems()
    for problem in problems:
        print(f"{command}: {problem.line()}", file=sys.stderr)
    return bool(problems)


# ---------------------------------------------------------------------------------------- tested lock
def tested_lock() -> tuple[str, Path | None]:
    """The tested lock's text and where it came from ('' and None when there is none).

    A checkout (editable install) reads ``constraints.txt`` at the repository root, the file
    ``pip install -e . -c constraints.txt`` uses; a wheel carries a copy inside the package
    (setup.py's build step puts it there), so a non-editable install finds it too.
    """
    root = Path(__file__).resolve().parents[1]
    candidates = []
    if (root / "pyproject.toml").is_file():
        candidates.append(root / LOCK_FILE)
    candidates.append(Path(str(resources.files("ov_eval"))) / LOCK_FILE)
    for path in candidates:
        if path.is_file():
            return path.read_text(), path
    return "", None


def parse_lock(text: str) -> dict[str, str]:
    """``name==version`` pins of a constraints/requirements file, by normalized name."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*(\S+)", line)
        if match:
            pins[normalize(match[1])] = match[2]
    return pins


def _same_release(installed: str, pinned: str) -> bool:
    try:  # torch 2.14.1+cu130 is the tested 2.14.1: the local build tag is not a different release
        return Version(installed).public == Version(pinned).public
    except InvalidVersion:
        return installed == pinned


def lock_findings(
    installed: Installed, lock_text: str, lock_path: Path | None, named: Iterable[str] = ()
) -> list[Finding]:
    """One line per package of ``LOCKED_PACKAGES``, except those a problem line already ``named``."""
    pins = parse_lock(lock_text)
    skip = {normalize(name) for name in named}
    found = []
    if lock_path is None:
        found.append(Finding(WARN, f"no tested lock ({LOCK_FILE}) found: versions below are not compared"))
    for dist in (d for d in LOCKED_PACKAGES if normalize(d) not in skip):
        version, pinned = installed.version(dist), pins.get(normalize(dist))
        if version is None:
            fix = "pip install -e ." if dist in ("lmms-eval", "transformers", "torch", "datasets") else ""
            found.append(Finding(FAIL if fix else WARN, f"{dist}: not installed", fix))
        elif pinned is None:
            found.append(Finding(OK, f"{dist} {version}"))
        elif _same_release(version, pinned):
            found.append(Finding(OK, f"{dist} {version} (tested: {pinned})"))
        else:
            found.append(
                Finding(
                    WARN,
                    f"{dist} {version} differs from the tested {pinned} ({lock_path}): an untested combination",
                    INSTALL_WITH_LOCK,
                )
            )
    return found


# ---------------------------------------------------------------------------------------- machine
def torch_findings() -> list[Finding]:
    try:
        import torch
    except Exception as exc:  # a broken CUDA install raises more than ImportError
        return [Finding(FAIL, f"torch cannot be imported ({exc})", "reinstall torch for this machine's CUDA")]
    found = [Finding(OK, f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none, CPU only'})")]
    if not torch.cuda.is_available():
        found.append(
            Finding(
                WARN,
                "no GPU visible to torch: runs use the CPU (enough for the demo and tests, not for real checkpoints)",
                "check nvidia-smi, CUDA_VISIBLE_DEVICES, and that torch was built for this driver's CUDA",
            )
        )
        return found
    for index in range(torch.cuda.device_count()):
        try:
            props = torch.cuda.get_device_properties(index)
            free, total = torch.cuda.mem_get_info(index)  # creates a context: fails on a busy exclusive GPU
        except Exception as exc:
            found.append(Finding(WARN, f"GPU {index}: cannot be queried ({exc})", "check nvidia-smi"))
            continue
        found.append(
            Finding(
                OK,
                f"GPU {index}: {props.name}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free), "
                f"compute capability {props.major}.{props.minor}",
            )
        )
    return found


def _import_version(module: str, dist: str, installed: Installed) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    return installed.version(dist) or "unknown version"


def optional_findings(installed: Installed) -> list[Finding]:
    found = []
    flash = _import_version("flash_attn", "flash-attn", installed)
    found.append(
        Finding(OK, f"flash-attn {flash}: attn_implementation=flash_attention_2 available")
        if flash
        else Finding(OK, "flash-attn not installed: attn_implementation=sdpa (the default) or eager")
    )
    decord, pyav = (
        _import_version("decord", "decord", installed),
        _import_version("av", "av", installed),
    )
    if not decord and not pyav:
        found.append(
            Finding(
                FAIL,
                "neither decord nor PyAV is installed: every video sample would fail",
                "pip install av (and decord on x86_64)",
            )
        )
    else:
        names = ", ".join(f"{n} {v}" for n, v in (("decord", decord), ("PyAV", pyav)) if v)
        missing = "" if decord else " (decord missing: video_decode_backend falls back to PyAV)"
        found.append(Finding(OK, f"video decoding: {names}{missing}"))
    entry_points = metadata.entry_points(group="lmms_eval.models")
    if any(ep.value.startswith("ov_eval.") for ep in entry_points):
        found.append(Finding(OK, "lmms-eval finds ov-eval's models (lmms_eval.models entry point)"))
    else:
        found.append(
            Finding(
                FAIL,
                "ov-eval is not registered with lmms-eval (no lmms_eval.models entry point): "
                "--model llava_onevision would load lmms-eval's built-in class",
                "pip install -e . in the ov-eval checkout (or pip install ov-eval)",
            )
        )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    found.append(
        Finding(OK, f"Chromium: {browser} (report screenshots)")
        if browser
        else Finding(
            WARN,
            "Chromium not found: only scripts/screenshot_report.sh needs it",
            "apt-get install chromium",
        )
    )
    return found


def judge_findings(tasks: list[str], flags: dict[str, str] | None = None) -> list[Finding]:
    """The judge's settings (never its key), and a problem when a requested task needs a judge and none
    is set. ``flags``: the ``--judge-*`` flags as ``OV_EVAL_JUDGE_*`` variables, as ``ov-eval run`` passes them."""
    from ov_eval.judge.config import JudgeNotConfigured, load_config
    from ov_eval.task_index import needs_judge, suite_configs

    configs = suite_configs()
    judged = [name for name in tasks if name in configs and needs_judge(name, configs)]
    try:
        config = load_config({**os.environ, **(flags or {})})
    except JudgeNotConfigured:
        if judged:
            return [
                Finding(
                    FAIL,
                    f"judge: not configured (API key present: no), but these tasks need an LLM judge: {', '.join(judged)}",
                    "set OV_EVAL_JUDGE_API_KEY (or OPENAI_API_KEY), or OV_EVAL_JUDGE_BASE_URL for a local "
                    "server; see docs/judge.md",
                )
            ]
        return [Finding(OK, "judge: not configured (API key present: no); only judged tasks need one")]
    except ValueError as exc:
        return [
            Finding(
                FAIL, f"judge settings: {exc}", "fix the OV_EVAL_JUDGE_* variable named; see docs/judge.md"
            )
        ]
    where = config.azure_endpoint if config.provider == "azure" else (config.base_url or "api.openai.com")
    present = f"yes (${config.api_key_source})" if config.api_key_source else "no"
    return [Finding(OK, f"judge: {config.provider}:{config.model} at {where}; API key present: {present}")]


# ---------------------------------------------------------------------------------------- datasets
def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _in_hf_cache(dataset_path: str) -> Path | None:
    """A hub snapshot or a ``datasets`` build of ``dataset_path`` on this machine, if there is one."""
    from huggingface_hub import constants

    datasets_cache = os.environ.get("HF_DATASETS_CACHE") or os.path.join(constants.HF_HOME, "datasets")
    for path in (
        Path(constants.HF_HUB_CACHE) / f"datasets--{dataset_path.replace('/', '--')}",
        Path(datasets_cache) / dataset_path.replace("/", "___"),
    ):
        if path.is_dir():
            return path
    return None


def _hub_probe(dataset_path: str) -> str | None:
    """None when the hub serves ``dataset_path`` to this user, else why not (raises on no connection)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().dataset_info(dataset_path, timeout=10)
    except GatedRepoError:
        return "gated on the hub: accept its terms there and log in (hf auth login)"
    except RepositoryNotFoundError:
        return "not found on the hub (private, renamed or a typo)"
    return None


def dataset_findings(tasks: list[str], probe=_hub_probe) -> list[Finding]:
    """Whether ``OV_EVAL_DATA_DIR``, the local Hugging Face cache or the hub can serve each task's dataset.

    A light check (the directory exists, the hub answers for the repository), not a read of the data.
    """
    from ov_eval.lmms_patches.local_datasets import DATA_DIR_ENV, local_dataset_dir
    from ov_eval.task_index import leaf_tasks, suite_configs

    configs = suite_configs()
    needed: dict[tuple[str, str | None], list[str]] = {}
    found = []
    for name in tasks:
        if name not in configs:
            found.append(
                Finding(WARN, f"--tasks {name}: not an ov-eval task or group, its dataset is not checked")
            )
            continue
        for leaf in leaf_tasks(name, configs):
            data = configs[leaf].data
            if data.get("dataset_path"):
                needed.setdefault((data["dataset_path"], data.get("dataset_name")), []).append(leaf)
    offline, unreachable = _offline(), None
    for (path, name), users in needed.items():
        label = f"{path}{'/' + name if name else ''} ({', '.join(dict.fromkeys(users))})"
        local = local_dataset_dir(path, name)
        cached = None if local else _in_hf_cache(path)
        if local or cached:
            found.append(Finding(OK, f"dataset {label}: {local or cached}"))
            continue
        if offline or unreachable:
            why = "HF_HUB_OFFLINE is set" if offline else f"the hub is unreachable ({unreachable})"
            found.append(
                Finding(
                    FAIL,
                    f"dataset {label}: not under {DATA_DIR_ENV} ({os.environ.get(DATA_DIR_ENV) or 'unset'}), "
                    f"not in the Hugging Face cache, and {why}",
                    f"download it once where the hub is reachable, or put a copy at $"
                    f"{DATA_DIR_ENV}/{path}{'/' + name if name else ''}",
                )
            )
            continue
        try:
            problem = probe(path)
        except (
            Exception
        ) as exc:  # connection errors of every kind: stop asking, report the rest as unreachable
            unreachable = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            found.append(
                Finding(
                    FAIL,
                    f"dataset {label}: not under {DATA_DIR_ENV}, not in the Hugging Face cache, "
                    f"and the hub is unreachable ({unreachable})",
                    f"check the network/HF_ENDPOINT, or use local copies via {DATA_DIR_ENV}",
                )
            )
            continue
        found.append(
            Finding(OK, f"dataset {label}: on the hub")
            if problem is None
            else Finding(FAIL, f"dataset {label}: {problem}", "see the dataset's hub page")
        )
    return found


# ---------------------------------------------------------------------------------------- command
def run_doctor(
    tasks: list[str], installed: Installed | None = None, judge_flags: dict[str, str] | None = None
) -> list[Finding]:
    installed = installed or Installed()
    blocking = blocking_problems(installed)
    named = [f.what.split()[0] for f in blocking]  # "filelock 4.3.1 with ...": no second line for filelock
    findings = [f for f in python_findings() if f.level == OK] + blocking
    findings += lock_findings(installed, *tested_lock(), named=named)
    findings += torch_findings() + optional_findings(installed) + judge_findings(tasks, judge_flags)
    if tasks:
        served = dataset_findings(tasks)
        findings += served
        if not any(f.level == FAIL for f in served):  # the deep read needs the datasets the light check found
            findings += preflight_findings(tasks)
    return findings


def preflight_findings(tasks: list[str]) -> list[Finding]:
    """The data preflight (``ov_eval/preflight.py``: each task's first rows through its own functions)
    as doctor lines; its table is printed as it runs."""
    from ov_eval.preflight import run_preflight

    result = run_preflight(",".join(tasks))
    if result.ok:
        return [Finding(OK, f"preflight: the first rows of {len(result.findings)} task(s) pass their checks")]
    return [
        Finding(FAIL, f"preflight {f.task} ({f.dataset}): {f.problem}", f.fix or "see the table above")
        for f in result.problems
    ]


def cmd_doctor(args: argparse.Namespace) -> int:
    tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
    from ov_eval.judge import judge_env_from_args

    findings = run_doctor(tasks, judge_flags=judge_env_from_args(args))
    for finding in findings:
        print(finding.line())
    failing = {FAIL, WARN} if args.strict else {FAIL}
    problems = [f for f in findings if f.level in failing]
    warnings = sum(f.level == WARN for f in findings)
    print(f"ov-eval doctor: {len(problems)} problem(s), {warnings} warning(s)")
    return 1 if problems else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check this installation before a long run: versions vs the tested lock, GPU, datasets, judge",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--tasks",
        default="",
        help="also check that each task's dataset is served and its first rows pass (preflight)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    from ov_eval.judge import add_judge_arguments  # the same --judge-* flags as ov-eval run

    add_judge_arguments(p)
    p.set_defaults(func=cmd_doctor)
