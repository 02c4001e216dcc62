"""What the screen back-end can fit (asked through the back-end registry).

The screen back-end fits the ``dose_response`` model with normalised viability, Normal wells
and at least 2 cell lines and 2 drugs.
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
    problems: list[tuple[str, str, str]] = []
    if spec.family != "dose_response" or arrays is None:
        problems.append(("model.family", spec.family, "dose_response (the screen back-end "
                         "fits the dose-response model only)"))
        return problems
    if arrays["raw"]:
        problems.append(("data.response_scale", "raw", "normalised viability (raw plate "
                         "signal needs method nuts, svi or map)"))
    if spec.options.likelihood != "normal":
        problems.append(("model.options.likelihood", spec.options.likelihood,
                         "normal (Student-t wells need method nuts, svi or map)"))
    if arrays["n_cell"] < 2 or arrays["n_drug"] < 2:
        problems.append(("data", f"{arrays['n_cell']} cell line(s) x {arrays['n_drug']} "
                         "drug(s)", "at least 2 cell lines and 2 drugs (a screen)"))
    return problems
