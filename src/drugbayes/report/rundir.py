"""Adding files to a finished run directory while keeping its manifest true.

A run directory holds exactly the files its ``manifest.json`` lists (:mod:`drugbayes.outputs`
replaces only such folders), so a file added after the manifest was written (the HTML report)
is listed in the manifest too. Both are written atomically: a temporary file in the run
directory, then :func:`os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["add_to_manifest", "read_manifest", "write_atomic"]


def read_manifest(run_dir: Path) -> dict | None:
    """The run directory's manifest, or ``None`` where it has no complete one."""
    try:
        m = json.loads((Path(run_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("complete") is not True \
            or not isinstance(m.get("files"), list):
        return None
    return m


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and :func:`os.replace`.

    A symbolic link at ``path`` is replaced, never written through. The file gets the mode of
    the file it replaces (``0o644`` for a new one).
    """
    path = Path(path)
    mode = 0o644
    if path.exists() and not path.is_symlink():
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_to_manifest(run_dir: Path, names: list[str]) -> None:
    """List ``names`` (paths relative to ``run_dir``) in its manifest's ``files``.

    Top-level files stay sorted, files in sub-folders follow, as :mod:`drugbayes.outputs`
    writes them.

    Raises
    ------
    ValueError
        ``run_dir`` has no complete manifest.
    """
    run_dir = Path(run_dir)
    m = read_manifest(run_dir)
    if m is None:
        raise ValueError(f"{run_dir} has no complete manifest.json")
    files = list(dict.fromkeys([*m["files"], *names]))
    m["files"] = sorted(f for f in files if "/" not in f) + [f for f in files if "/" in f]
    write_atomic(run_dir / "manifest.json", json.dumps(m, indent=2))
