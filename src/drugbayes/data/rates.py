"""Growth-rate readouts shared by the well kinds: scale checks, the floor of net death and GR
values from cell counts.

``response_scale = "rate"`` (growth rates such as DIP rates, in ``rate_unit``) is read by the
combination and dose-response kinds; ``response_scale = "gr"`` (GR values, Hafner et al. 2016)
by dose response, given directly or computed from cell counts with ``time_zero`` wells
(:func:`gr_from_counts`). The GR formula itself is :func:`drugbayes.curves.gr_value`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..curves import gr_value
from .checks import IssueCollector, viability_scale_problem

RATE_FLOOR_FACTOR = 5.0
"""With growth rates, a drug's maximal effect (E1, E2 of a combination, the bottom of a
dose-response curve) is bounded below by ``-RATE_FLOOR_FACTOR x E0`` at most (a drug killing
cells five times faster than untreated cells grow)."""

RATE_SCALE_HINT = ("for growth rates (e.g. DIP rates in 1/h) set response_scale = \"rate\" "
                   "and rate_unit = \"1/h\" (their unit); for raw signal, normalise each plate "
                   "to its untreated wells first")
"""The fix named when responses do not look like the viability they are declared as."""

GR_LOWER = -1.0
"""The lowest GR value (every cell dead at the end): the bottom of a GR curve lies in
``(-1, 1)``."""


def rate_bottom_lower(response: np.ndarray, e0_ref: float) -> float:
    """The lower bound of a maximal effect as a fraction of E0 for growth rates, from the data.

    ``-(0.5 + 1.5 x max(0, -min response) / E0_ref)``: room for a maximal effect half as
    negative again as the most negative observed rate (and for net death where none was
    observed), never below ``-RATE_FLOOR_FACTOR``.
    """
    lowest = max(0.0, -float(np.nanmin(response))) / e0_ref
    return -min(RATE_FLOOR_FACTOR, 0.5 + 1.5 * lowest)


def check_rate_unit(chk: IssueCollector, response_scale: str, rate_unit: str) -> None:
    """``rate_unit`` is required with ``response_scale = "rate"`` and refused without it."""
    if response_scale == "rate" and not rate_unit:
        chk.add(None, None, None, "response_scale = \"rate\" needs rate_unit, the unit of the "
                "growth rates (e.g. rate_unit = \"1/h\")")
    if response_scale != "rate" and rate_unit:
        chk.add(None, None, rate_unit, "rate_unit applies only with response_scale = \"rate\"")


def check_response_scale(chk: IssueCollector, resp: pd.Series, untreated: pd.Series,
                         use: pd.Series, response_scale: str, hint: str = RATE_SCALE_HINT
                         ) -> None:
    """Responses that do not fit their declared scale, added to ``chk``.

    Viability (``fraction``, ``percent``): the one rule of
    :func:`~drugbayes.data.checks.viability_scale_problem` (raw signal or rates declared as
    viability), its message followed by ``hint`` (how to fix it); rates (``rate``) whose
    untreated wells do not grow (median <= 0).

    Parameters
    ----------
    resp : Series
        The responses as given.
    untreated, use : Series of bool
        The untreated wells (dose 0) and the rows to check (parsed, with a response).
    hint : str
        The fix named after a viability problem.
    """
    if response_scale in ("fraction", "percent"):
        problem = viability_scale_problem(resp[use].to_numpy(), (untreated & use)[use].to_numpy(),
                                          response_scale)
        if problem:
            chk.add(None, "response", None, f"{problem}; {hint}")
        return
    untreated = untreated & use
    if response_scale == "rate" and untreated.any():
        med = float(np.median(resp[untreated]))
        if not med > 0:
            chk.add(None, "response", f"{med:.4g}",
                    "with response_scale = \"rate\" the untreated wells must grow: their "
                    f"median rate is {med:.4g} (E0, the untreated rate, must be > 0)")


def gr_from_counts(df: pd.DataFrame, use: pd.Series, chk: IssueCollector) -> pd.Series:
    """GR values of the wells of a table of cell counts (Hafner et al. 2016).

    ``GR(c) = 2^(log2(x(c) / x0) / log2(x_ctrl / x0)) - 1`` (:func:`drugbayes.curves.gr_value`),
    with ``x(c)`` the well's count at the end, ``x0`` the mean count of the ``time_zero`` wells
    and ``x_ctrl`` the mean count of the untreated wells (dose 0) at the end, both of the same
    cell line on the same plate (``experiment x plate``; the experiment where the table has no
    plate column). Untreated wells get their own GR value (about 1 on average).

    Every problem is added to ``chk`` (a plate and cell line with treated wells but no
    ``time_zero`` or no untreated wells, counts <= 0, untreated wells that did not grow past
    ``x0``); their wells' values are NaN.

    Parameters
    ----------
    df : DataFrame
        ``experiment, plate, cell_line, dose, response, well_role``, every row of the table
        in ``chk``'s order (row positions are the source's).
    use : Series of bool
        The rows to use (parsed, with a response; not blank).

    Returns
    -------
    Series
        The GR value of every row (NaN on ``time_zero`` rows and rows not used).
    """
    use = use.to_numpy(bool)
    role = df["well_role"].to_numpy()
    resp = df["response"].to_numpy(float)
    t0 = role == "time_zero"
    with np.errstate(invalid="ignore"):
        bad = use & ~(resp > 0)
    for pos in np.flatnonzero(bad):
        chk.add(int(pos), "response", df["response"].iloc[pos],
                "a cell count must be > 0 to compute GR values (log2 of counts)")
    ok = use & ~bad
    key = (df["experiment"].astype(str) + "\x1f" + df["plate"].astype(str) + "\x1f"
           + df["cell_line"].astype(str)).to_numpy()
    ctrl = ok & ~t0 & (df["dose"].to_numpy(float) == 0)
    x0 = pd.Series(resp[ok & t0]).groupby(key[ok & t0]).mean()
    xc = pd.Series(resp[ctrl]).groupby(key[ctrl]).mean()
    out = np.full(len(df), np.nan)
    treated = use & ~t0
    for k in pd.unique(key[treated]):
        rows = np.flatnonzero(treated & (key == k))
        ex, pl, cl = str(k).split("\x1f")
        where = (f"cell line {cl!r}" + (f", plate {pl!r}" if pl else "")
                 + (f", experiment {ex!r}" if ex else ""))
        if k not in x0.index:
            chk.add(int(rows[0]), "well_role", None, f"{where} has no time_zero wells (cell "
                    "counts at the time of treatment) with a count; GR values need them on each "
                    "plate")
            continue
        if k not in xc.index:
            chk.add(int(rows[0]), "dose", None, f"{where} has no untreated wells (dose 0) with "
                    "a count; GR values need them on each plate")
            continue
        if not xc[k] > x0[k]:
            chk.add(int(rows[0]), "response", f"{xc[k]:.4g}",
                    f"{where}: the untreated wells' mean count ({xc[k]:.4g}) is not above the "
                    f"time_zero mean ({x0[k]:.4g}); GR values need untreated cells that grew")
            continue
        sel = rows[ok[rows]]
        out[sel] = gr_value(resp[sel], float(x0[k]), float(xc[k]), np)
    return pd.Series(out, index=df.index)
