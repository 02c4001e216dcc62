"""Checkpoints of a fit under way (``[inference] checkpoint_every``): a back-end's state and
its draws so far, written atomically, so that a run killed midway continues where it was.

A run (:func:`drugbayes.api.run_config`) names the checkpoint file and the run's inputs hash
with :func:`checkpointing`; a back-end that supports checkpoints reads them with
:func:`current`, resumes from :func:`load` and writes with :func:`save`. The file is a NumPy
``.npz`` of plain arrays and a JSON header (never a pickle): it is written to a temporary
sibling and renamed into place, so a kill leaves either the previous checkpoint or the new
one. A checkpoint of other inputs (another config, data or version) is never resumed from.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Checkpoint", "checkpointing", "current", "load", "remove", "save"]

FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    """Where a run's checkpoint lives and the inputs hash it must carry."""

    path: Path
    inputs: str

    def sibling(self, tag: str) -> Checkpoint:
        """The checkpoint of a second fit of the same run (e.g. a reference model): beside
        this one, its name and inputs hash tagged with ``tag``."""
        name = self.path.name
        stem = name[:-len(".npz")] if name.endswith(".npz") else name
        return Checkpoint(self.path.with_name(f"{stem}.{tag}.npz"), f"{self.inputs}:{tag}")


_CURRENT: ContextVar[Checkpoint | None] = ContextVar("drugbayes_checkpoint", default=None)


@contextmanager
def checkpointing(path: Path, inputs: str) -> Iterator[Checkpoint]:
    """Let the back-ends of fits in this block checkpoint to ``path`` for ``inputs``."""
    ck = Checkpoint(Path(path), inputs)
    token = _CURRENT.set(ck)
    try:
        yield ck
    finally:
        _CURRENT.reset(token)


def current() -> Checkpoint | None:
    """The checkpoint of the run under way, or ``None`` (a fit outside a run)."""
    return _CURRENT.get()


def save(ck: Checkpoint, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Write ``arrays`` and the JSON ``header`` to ``ck.path`` atomically."""
    ck.path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({**header, "inputs": ck.inputs, "format": FORMAT})
    fd, tmp = tempfile.mkstemp(prefix=f".{ck.path.name}.", suffix=".tmp", dir=ck.path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            named: dict[str, Any] = {"__header__": np.array(meta), **arrays}
            np.savez(f, allow_pickle=False, **named)  # plain arrays only
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, ck.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(ck: Checkpoint) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and header of ``ck.path``, or ``None`` where there is none, it cannot be
    read, or it belongs to other inputs."""
    try:
        with np.load(ck.path, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
            arrays = {k: z[k] for k in z.files if k != "__header__"}
    except (OSError, ValueError, KeyError):
        return None
    if header.get("inputs") != ck.inputs or header.get("format") != FORMAT:
        return None
    return arrays, header


def remove(ck: Checkpoint) -> None:
    """Delete the checkpoint (the run finished)."""
    ck.path.unlink(missing_ok=True)
