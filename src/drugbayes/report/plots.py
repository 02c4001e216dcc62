"""Plots (matplotlib, imported lazily, non-interactive backend)."""

from __future__ import annotations

import re


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


