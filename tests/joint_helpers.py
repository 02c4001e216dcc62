"""Shared pieces of the joint family's tests (``test_joint.py``, ``test_joint_inputs.py``):
the contract study's tables written as files, a three-block config and the problems of an
input error as text."""

from __future__ import annotations

from pathlib import Path

from drugbayes.errors import InputError


def write_tables(folder: Path, tables: dict) -> None:
    """Each block's table as ``<kind>.csv`` in ``folder``."""
    for kind, df in tables.items():
        df.to_csv(folder / f"{kind}.csv", index=False)


def joint_raw(arm_drugs: dict, units: dict | None = None, **blocks) -> dict:
    """A config of the three blocks read from :func:`write_tables`' files; ``units``:
    ``[data.dose_units]`` (then the in-vitro blocks set no ``dose_unit`` of their own);
    ``blocks``: keys merged into each named block's table."""
    own = {} if units is not None else {"dose_unit": "uM"}
    raw: dict = {"run": {"output_dir": "out"},
                 "data": {"dose_response": {"path": "dose_response.csv", **own},
                          "combination": {"path": "combination.csv", **own},
                          "xenograft": {"path": "xenograft.csv", "control_arm": "vehicle"},
                          "arm_drugs": arm_drugs},
                 "model": {"family": "joint"}}
    if units is not None:
        raw["data"]["dose_units"] = units
    for k, v in blocks.items():
        raw["data"][k] = {**raw["data"].get(k, {}), **v}
    return raw


def problems(err: InputError) -> str:
    """Every issue of ``err``, one per line."""
    return "\n".join(str(i) for i in err.issues)
