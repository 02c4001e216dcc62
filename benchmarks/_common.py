"""What the benchmark scripts share: repository paths, result files, provenance and logging.

Every script runs as a module from the repository root (``python -m benchmarks.<group>.<name>``)
and writes its results under ``benchmarks/results/<group>/`` (``results_dir``); see
``benchmarks/README.md`` for the index.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"


def results_dir(group: str) -> Path:
    """The result folder of a benchmark group (``peers``, ``scale``, ``validation``,
    ``sampler``): ``benchmarks/results/<group>``."""
    return RESULTS / group


def command(module: str, args: Sequence[str] = ()) -> str:
    """The command line that reruns a benchmark from the repository root.

    Parameters
    ----------
    module : str
        The benchmark's module, e.g. ``"benchmarks.scale.screen_scale"``.
    args : sequence of str
        Its arguments.

    Returns
    -------
    str
        ``python -m <module> <args>``.
    """
    return " ".join(["python", "-m", module, *args])


def log(msg: str) -> None:
    """``msg`` on stderr with the wall-clock time (``[HH:MM:SS] msg``)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def utc_timestamp() -> str:
    """The current UTC time, ISO 8601 to the second (``2026-01-31T12:00:00+00:00``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_commit(short: bool = True) -> str:
    """The repository's ``HEAD`` commit (abbreviated when ``short``); ``""`` outside git."""
    cmd = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment() -> dict:
    """Device, versions, CPUs, time and git state of a benchmark run (the header of a result).

    Returns
    -------
    dict
        ``timestamp_utc``, ``jax_devices``, ``jax_backend``, ``versions`` (python, jax, jaxlib,
        numpyro, scipy, numpy, pandas, drugbayes), ``cpu_count``, ``cpu_affinity``,
        ``platform``, ``processor``, ``git_commit`` and ``git_src_uncommitted_changes`` (the
        ``git status --porcelain`` lines under ``src/``).
    """
    import jax
    import numpy as np
    import numpyro
    import pandas as pd
    import scipy

    import drugbayes

    def git(*a: str) -> str | None:
        try:
            return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return None

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    dirty = git("status", "--porcelain", "--", "src")
    return {
        "timestamp_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_backend": jax.default_backend(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": getattr(__import__("jaxlib"), "__version__", None),
                     "numpyro": numpyro.__version__, "scipy": scipy.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__,
                     "drugbayes": drugbayes.__version__},
        "cpu_count": os.cpu_count(), "cpu_affinity": affinity,
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_src_uncommitted_changes": dirty.splitlines() if dirty else [],
    }


def write_json(path: Path, data: Any, default: Callable[[Any], Any] = float) -> Path:
    """Write ``data`` as indented JSON (``default`` converts what JSON cannot hold); the folder
    is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=default))
    return path


def write_markdown(path: Path, text: str | Sequence[str]) -> Path:
    """Write a Markdown report (a string, or lines joined with newlines), ending in a newline;
    the folder is created."""
    path = Path(path)
    body = text if isinstance(text, str) else "\n".join(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if body.endswith("\n") else body + "\n")
    return path


def write_result(stem: Path, data: Any, markdown: str | Sequence[str],
                 default: Callable[[Any], Any] = float) -> tuple[Path, Path]:
    """Write a benchmark's ``<stem>.json`` (``write_json``) and ``<stem>.md``
    (``write_markdown``).

    Parameters
    ----------
    stem : Path
        The result path without extension, e.g. ``results_dir("sampler") / "screen_mode_jump"``
        (a dot in the name is kept, not taken for an extension).
    data : Any
        The JSON record.
    markdown : str or sequence of str
        The report.
    default : callable, default float
        ``json.dumps``'s converter for what JSON cannot hold.

    Returns
    -------
    tuple of Path
        The JSON and Markdown paths.
    """
    stem = Path(stem)
    return (write_json(stem.parent / f"{stem.name}.json", data, default),
            write_markdown(stem.parent / f"{stem.name}.md", markdown))
