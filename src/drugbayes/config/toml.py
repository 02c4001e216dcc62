"""A small TOML writer for ``config.resolved.toml`` (the standard library only reads TOML)."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

__all__ = ["dump_toml"]


def dump_toml(d: dict[str, Any]) -> str:
    """Write a nested dict of plain values as TOML (tables, arrays of tables, scalars).

    Parameters
    ----------
    d : dict
        Tables are dicts, arrays of tables are non-empty lists of dicts; other values are
        booleans, numbers (infinities written as ``inf``), lists or strings.

    Returns
    -------
    str
        The TOML text.
    """
    lines: list[str] = []

    def val(v: Any) -> str:
        if isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b":
            return "true" if v else "false"
        if isinstance(v, numbers.Integral):  # numpy scalars too (repr of np.float64 is
            return str(int(v))  # not TOML)
        if isinstance(v, numbers.Real):
            f = float(v)
            return repr(f) if math.isfinite(f) else ("inf" if f > 0 else "-inf")
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {val(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def table(prefix: str, t: dict[str, Any]) -> None:
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict)
                   and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {val(v)}")
        lines.append("")
        for k, v in t.items():
            if isinstance(v, dict):
                table(f"{prefix}.{_key(k)}" if prefix else _key(k), v)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for x in v:
                    lines.append(f"[[{prefix + '.' if prefix else ''}{_key(k)}]]")
                    for kk, vv in x.items():
                        lines.append(f"{_key(kk)} = {val(vv)}")
                    lines.append("")

    table("", d)
    return "\n".join(lines)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)
