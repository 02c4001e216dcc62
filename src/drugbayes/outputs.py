"""Run directories: what counts as one, and replacing one only with a complete new one.

A *run directory* is a folder drugbayes wrote: it holds a ``manifest.json`` with
``"complete": true`` and nothing but the files that manifest lists (plus the manifest itself and
the ``plots/`` folder's listed figures). Anything else at an output path (a user's folder of
notes, a file, a symbolic link, a run directory someone added files to) is never deleted or
overwritten: the run stops before fitting with an input error (exit code 2).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

__all__ = ["output_dir_problem", "replace_dir"]


def output_dir_problem(out: Path) -> str | None:
    """Why ``out`` may not receive a run directory, or ``None`` where it may.

    ``out`` may receive one when it does not exist, is an empty folder, or is a complete
    drugbayes run directory holding only the files its manifest lists.

    Parameters
    ----------
    out : Path
        The intended run directory.

    Returns
    -------
    str or None
        What is wrong, in words, or ``None``.
    """
    out = Path(out)
    if out.is_symlink():
        return "exists and is a symbolic link, not a drugbayes run directory; not replaced"
    if not out.exists():
        return None
    if not out.is_dir():
        return "exists and is a file, not a drugbayes run directory; not replaced"
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return None
    manifest = out / "manifest.json"
    try:
        m = json.loads(manifest.read_text())
        listed = set(m["files"]) if m.get("complete") is True else None
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    if listed is None:
        return ("exists and is not a drugbayes run directory (no complete manifest.json); "
                "it is never deleted or overwritten: choose another run.output_dir or "
                "remove it yourself")
    top = {f for f in listed if "/" not in f} | {"manifest.json", "plots"}
    plots = {f.split("/", 1)[1] for f in listed if f.startswith("plots/")}
    extra = sorted(entries - top)
    pdir = out / "plots"
    if pdir.is_dir() and not pdir.is_symlink():
        extra += sorted(f"plots/{p.name}" for p in pdir.iterdir() if p.name not in plots)
    elif pdir.exists() or pdir.is_symlink():
        extra.append("plots")
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        return (f"is a drugbayes run directory holding files its manifest does not list "
                f"({shown}); not replaced: move them out or choose another run.output_dir")
    return None


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the complete run directory ``tmp`` to ``out``, replacing an old run directory.

    The old directory is checked again just before it is moved aside (a user may have written
    into it while the fit ran); it is deleted only after the new one is in place.

    Raises
    ------
    FileExistsError
        ``out`` is not something :func:`output_dir_problem` allows to be replaced; ``tmp`` is
        left where it is, so nothing is lost.
    """
    problem = output_dir_problem(out)
    if problem is not None:
        raise FileExistsError(f"{out} {problem} (the finished run is kept in {tmp})")
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{time.time_ns()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
