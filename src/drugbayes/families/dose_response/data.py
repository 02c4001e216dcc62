"""Model arrays of the ``dose_response`` family: encoded table -> arrays, data summaries."""

from __future__ import annotations

from functools import partial

import numpy as np

from ...data.encode import encode_dose_response, prepare_wells
from ...data.fields import carried_note
from ...data.validate import validate_dose_response
from .._hierarchy import CLEAR_DROP


def arrays(data) -> dict:
    """Numeric arrays (and sizes) the model needs, from :class:`DoseResponseData`."""
    out = {
        "n_cell": len(data.cell_lines), "n_drug": len(data.drugs),
        "n_exp": len(data.experiments), "n_group": data.n_groups,
        "group_cell": data.group_cell, "group_drug": data.group_drug,
        "curve_group": data.curve_group, "curve_exp": data.curve_experiment,
        "x": data.x, "y": data.y, "mask": data.mask, "is_zero": data.is_zero,
        "half_range": data.drug_half_range.astype(np.float32), "raw": data.is_raw,
    }
    if data.is_rate or data.is_gr:
        out.update({"is_rate": data.is_rate, "is_gr": data.is_gr,
                    "bottom_lower": float(data.bottom_lower)})
        if data.is_rate:
            out["log_top_ref"] = np.asarray(data.group_log_top_ref, np.float32)
    out["informed_ic50"], out["informed_bottom"] = informed_groups(data)
    cells_informed = np.zeros(len(data.cell_lines), bool)
    cells_informed[data.group_cell[out["informed_ic50"]]] = True
    out["cell_informed_fraction"] = float(cells_informed.mean())
    # cell-line effects are pinned by the data only when most cell lines have informative
    # curves and there are enough drugs to tell a cell-line effect from cell x drug deviations
    out["cell_centered_auto"] = bool(out["cell_informed_fraction"] >= 0.5
                                     and len(data.drugs) >= 3)
    if data.is_raw:
        out.update({
            "n_plate": len(data.plates), "n_pc": len(data.plate_cells),
            "pc_plate": data.plate_cell_plate, "point_pc": data.point_plate_cell,
            "blank_y": data.blank_y, "blank_plate": data.blank_plate,
            "vehicle_y": data.vehicle_y, "vehicle_pc": data.vehicle_plate_cell,
            "log_blank_guess": float(np.log(max(np.median(data.blank_y), 1e-3))),
        })
        out["informed_background"], out["informed_untreated"] = informed_plates(data)
    return out


def informed_groups(data) -> tuple[np.ndarray, np.ndarray]:
    """Which groups' own data pin their IC50/Hill and their bottom (a data summary, no fit).

    With ``drop`` the fall of mean viability from the two lowest to the two highest doses, a
    group's IC50 and Hill are informed when ``drop > 0.2`` and either the curve levels off at the
    highest doses (a plateau: the two highest doses differ by less than max(0.1, drop / 4)) or it
    falls below 0.5; its bottom is informed when ``drop > 0.2`` and it levels off. Used only to
    choose centred or non-centred coordinates (``parameterization = "auto"``).
    """
    v = np.asarray(data.y, np.float64).copy()
    if data.is_raw:
        bl = np.array([np.median(data.blank_y[data.blank_plate == i]) for i in
                       range(len(data.plates))])
        ve = np.array([np.median(data.vehicle_y[data.vehicle_plate_cell == i])
                       if np.any(data.vehicle_plate_cell == i) else 1.0
                       for i in range(len(data.plate_cells))])
        b = bl[data.plate_cell_plate][data.point_plate_cell]
        v = (v - b) / np.maximum(ve[data.point_plate_cell] - b, 1e-9)
    elif data.is_rate:  # rates (already / response_ref) as a fraction of the group's level
        v = v / np.exp(data.group_log_top_ref)[data.curve_group][:, None]
    # vectorised over groups (one pandas pass; a loop over groups was quadratic in the screen
    # size): mean response per group and dose, then the first two, last two and lowest means
    import pandas as pd

    m = data.mask & ~data.is_zero
    cu, pu = np.nonzero(m)
    pts = pd.DataFrame({"g": data.curve_group[cu], "x": data.x[cu, pu], "v": v[cu, pu]})
    pm = pts.groupby(["g", "x"], sort=True)["v"].mean().reset_index()
    gb = pm.groupby("g")
    rank = gb.cumcount().to_numpy()
    n = gb["x"].transform("size").to_numpy()
    g_all = pm["g"].to_numpy()
    vals = pm["v"].to_numpy()

    def per_group(sel, how="mean"):
        out = np.full(data.n_groups, np.nan)
        agg = pd.Series(vals[sel]).groupby(g_all[sel]).agg(how)
        out[agg.index.to_numpy()] = agg.to_numpy()
        return out

    n_dose = np.zeros(data.n_groups, int)
    first = gb.size()
    n_dose[first.index.to_numpy()] = first.to_numpy()
    m_first2 = per_group(rank < 2)
    m_last2 = per_group(rank >= n - 2)
    m0 = per_group(rank == 0)
    m_last = per_group(rank == n - 1)
    m_prev = per_group(rank == n - 2)
    m_min = per_group(np.ones(len(vals), bool), "min")
    with np.errstate(invalid="ignore"):
        drop = m_first2 - m_last2
        plateau = np.abs(m_last - m_prev) < np.maximum(0.1, 0.25 * drop)
        # a clear drop whose midpoint is crossed inside the range pins IC50 and Hill
        mid = m_first2 - 0.5 * drop
        enough = n_dose >= 3
        ic50 = (enough & (drop > CLEAR_DROP) & (m0 > mid) & (mid > m_last)
                & (plateau | (m_min < 0.5)))
        # a clear drop that levels off pins the bottom
        bottom = enough & (drop > CLEAR_DROP) & plateau
    return ic50, bottom


def informed_plates(data) -> tuple[np.ndarray, np.ndarray]:
    """Plates whose blank (resp. plate x cell line whose vehicle) wells pin their own level.

    Informed when the standard error of the level's mean (pooled within-plate SD / sqrt(n)) is
    below the spread of those means across plates; used to choose centred coordinates.
    """
    def rule(y, idx, n):
        means = np.array([y[idx == i].mean() if np.any(idx == i) else np.nan for i in range(n)])
        counts = np.array([np.sum(idx == i) for i in range(n)])
        resid = y - means[idx]
        within = np.sqrt(np.sum(resid ** 2) / max(len(y) - n, 1))
        se = within / np.sqrt(np.maximum(counts, 1))
        between = np.nanstd(np.log(np.maximum(means, 1e-6))) * np.nanmean(means) if n > 1 else 0
        return se < between

    bg = rule(np.asarray(data.blank_y, float), data.blank_plate, len(data.plates))
    un = rule(np.asarray(data.vehicle_y, float), data.vehicle_plate_cell, len(data.plate_cells))
    return bg, un


prepare = partial(prepare_wells, validate=validate_dose_response, encode=encode_dose_response)
"""Read, validate and encode a dose-response table (see ``[data]`` in the docs)."""


def describe(vt, data) -> str:
    """One line about the encoded data."""
    ctrl_only = int(data.n_wells - data.mask.sum()) if data.gr_from_counts else 0
    scale = {"rate": f"growth rates in {data.rate_unit}",
             "gr": "GR values" + (" from cell counts and time_zero wells" if data.gr_from_counts
                                  else "")
             + (f"; {ctrl_only} untreated wells without a drug serve only as the GR control "
                "count" if ctrl_only else "")}.get(data.response_scale, data.response_scale)
    return (f"{data.n_wells} wells, {len(data.cell_lines)} cell lines, {len(data.drugs)} drugs, "
            f"{len(data.experiments)} experiments, {data.n_curves} curves ({scale})"
            + carried_note(getattr(data, "carried_curve", {}),
                           getattr(data, "carried_well", {}), "curve", "measured_curve"))


def extra_sites(data) -> tuple[str, ...]:
    """Plate parameters kept from MAP/SVI draws (raw signal)."""
    return ("background", "untreated_signal") if data.is_raw else ()


def contract_data(seed: int = 1, response_scale: str = "fraction") -> tuple:
    """A small simulated screen for the contract tests (3 cell lines x 2 drugs, 2 experiments);
    ``response_scale`` as :func:`.simulate.simulate_wells` takes it (``gr_counts``: cell
    counts read as ``gr``)."""
    from .simulate import simulate_dose_response

    wells, _ = simulate_dose_response(3, 2, n_experiments=2, seed=seed,
                                      response_scale=response_scale)
    scale = "gr" if response_scale == "gr_counts" else response_scale
    return wells, {"dose_unit": "uM", "response_scale": scale,
                   **({"rate_unit": "1/h"} if scale == "rate" else {})}
