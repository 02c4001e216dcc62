"""What the screen back-end can fit (asked through the back-end registry).

The screen (blocked) back-end fits the families that register a blocked plan
(``Family.blocks``); the plan says what it cannot fit (for ``dose_response``: raw plate
signal, Student-t wells, fewer than 2 cell lines or drugs).
"""

from __future__ import annotations

from typing import Any

__all__ = ["screen_problems"]


def screen_problems(spec: Any, arrays: dict | None) -> list[tuple[str, str, str]]:
    """Why ``inference.method = "screen"`` cannot fit this model and data.

    Parameters
    ----------
    spec : Spec
        The validated model spec.
    arrays : dict or None
        The family's model arrays; ``None`` where the data are not of the spec's kind.

    Returns
    -------
    list of (what, its value, what the screen needs)
        Empty where the screen can fit it.
    """
    from ..families import REGISTRY

    fam = REGISTRY.get(spec.family)
    if fam is None or fam.blocks is None or arrays is None:
        with_plan = [name for name, f in REGISTRY.items() if f.blocks is not None]
        return [("model.family", spec.family, f"{' or '.join(with_plan)} (the screen "
                 "back-end fits the families with a blocked plan only)")]
    return list(fam.blocks.problems(spec, arrays))
