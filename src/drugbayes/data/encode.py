"""Encoding validated tables into dense padded arrays (strings never enter JAX)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .schemas import DOSE_UNITS
from .validate import ValidatedTable


def _levels(values: pd.Series) -> list[str]:
    return list(pd.unique(values.astype(str)))


@dataclass
class DoseResponseData:
    """Dose-response data as arrays, with the category names kept.

    Curves (``[curve, point]`` padded arrays) are the measured curves, one per cell line x drug
    x experiment; groups are the cell line x drug pairs reported in the summary.

    Log10 doses are molar and centred per drug on the middle of that drug's tested range
    (``x = log10(dose_M) - drug_center[drug]``).
    """

    cell_lines: list[str]
    drugs: list[str]
    experiments: list[str]
    group_cell: np.ndarray  # [group] -> cell index
    group_drug: np.ndarray  # [group] -> drug index
    curve_group: np.ndarray  # [curve] -> group
    curve_experiment: np.ndarray  # [curve] -> experiment
    x: np.ndarray  # [curve, point] centred log10 dose (0 where is_zero or padded)
    y: np.ndarray  # [curve, point] response (viability fraction, or raw / signal_scale)
    mask: np.ndarray  # [curve, point] bool
    is_zero: np.ndarray  # [curve, point] bool: untreated (dose 0)
    drug_center: np.ndarray  # [drug] log10 M
    drug_half_range: np.ndarray  # [drug] decades
    group_log10_min: np.ndarray  # [group] lowest positive tested dose, centred log10
    group_log10_max: np.ndarray  # [group] highest tested dose, centred log10
    dose_unit: str = "M"
    response_scale: str = "fraction"
    # raw signal
    plates: list[str] = field(default_factory=list)  # "experiment/plate"
    plate_cells: list[str] = field(default_factory=list)  # "experiment/plate/cell_line"
    plate_cell_plate: np.ndarray | None = None  # [plate_cell] -> plate
    point_plate_cell: np.ndarray | None = None  # [curve, point] -> plate_cell
    blank_y: np.ndarray | None = None
    blank_plate: np.ndarray | None = None
    vehicle_y: np.ndarray | None = None
    vehicle_plate_cell: np.ndarray | None = None
    signal_scale: float = 1.0
    n_wells: int = 0

    @property
    def n_groups(self) -> int:
        return len(self.group_cell)

    @property
    def attrs(self) -> dict[str, str]:
        """Attributes recorded on the posterior DataTree."""
        return {"dose_unit": self.dose_unit, "response_scale": self.response_scale}

    @property
    def n_curves(self) -> int:
        return len(self.curve_group)

    @property
    def is_raw(self) -> bool:
        return self.response_scale == "raw"

    @property
    def unit_offset(self) -> float:
        """log10 of the data's dose unit in M: log10(dose_unit) = log10(M) - unit_offset."""
        return float(np.log10(DOSE_UNITS[self.dose_unit]))


def encode_dose_response(vt: ValidatedTable) -> DoseResponseData:
    """Encode a :class:`ValidatedTable` into :class:`DoseResponseData`."""
    df = vt.df
    factor = DOSE_UNITS[vt.dose_unit]
    scale = {"fraction": 1.0, "percent": 0.01, "raw": 1.0}[vt.response_scale]
    cells_df = df[df["well_role"].ne("blank")]
    samples = cells_df[cells_df["well_role"].eq("sample")]
    cell_lines = _levels(samples["cell_line"])
    drugs = _levels(samples["drug"])
    experiments = _levels(cells_df["experiment"]) if len(cells_df) else [""]
    cell_idx = {c: i for i, c in enumerate(cell_lines)}
    drug_idx = {d: i for i, d in enumerate(drugs)}
    exp_idx = {e: i for i, e in enumerate(experiments)}

    logd = np.log10(samples["dose"].to_numpy() * factor)
    center = np.zeros(len(drugs))
    half = np.zeros(len(drugs))
    sdrug = samples["drug"].map(drug_idx).to_numpy()
    for j in range(len(drugs)):
        lo, hi = logd[sdrug == j].min(), logd[sdrug == j].max()
        center[j] = 0.5 * (lo + hi)
        half[j] = 0.5 * (hi - lo)

    groups = samples[["cell_line", "drug"]].drop_duplicates()
    group_key = {(r.cell_line, r.drug): g for g, r in enumerate(groups.itertuples())}
    group_cell = np.array([cell_idx[c] for c, _ in group_key], dtype=np.int32)
    group_drug = np.array([drug_idx[d] for _, d in group_key], dtype=np.int32)

    raw = vt.response_scale == "raw"
    plates: list[str] = []
    plate_cells: list[str] = []
    signal_scale = 1.0
    if raw:
        def plate_label(r):
            return f"{r['experiment']}/{r['plate']}" if r["experiment"] else str(r["plate"])

        df = df.copy()
        df["_plate"] = [f"{e}/{p}" if e else str(p) for e, p in zip(df["experiment"], df["plate"])]
        df["_pc"] = df["_plate"] + "/" + df["cell_line"]
        plates = _levels(df["_plate"])
        plate_cells = _levels(df.loc[df["well_role"].ne("blank"), "_pc"])
        blanks = df[df["well_role"].eq("blank")]
        vehicles = df[df["well_role"].eq("vehicle")]
        signal_scale = float(vehicles["response"].median() - blanks["response"].median())
        if not np.isfinite(signal_scale) or signal_scale <= 0:
            signal_scale = float(max(df["response"].abs().median(), 1e-12))
        cells_df = df[df["well_role"].ne("blank")]

    # measured curves: (cell_line, drug, experiment) of sample wells + their dose-0 rows
    cells_df = cells_df.copy()
    curves = cells_df[cells_df["well_role"].eq("sample")][
        ["cell_line", "drug", "experiment"]].drop_duplicates()
    curve_key = {(r.cell_line, r.drug, r.experiment): c for c, r in enumerate(curves.itertuples())}
    pts: list[list[int]] = [[] for _ in curve_key]
    roles = cells_df["well_role"].to_numpy()
    keys = list(zip(cells_df["cell_line"], cells_df["drug"], cells_df["experiment"]))
    for pos, (k, role) in enumerate(zip(keys, roles)):
        if role == "sample" or (role == "vehicle" and not raw):
            c = curve_key.get(k)
            if c is not None:
                pts[c].append(pos)
    n_curve = len(pts)
    n_point = max((len(p) for p in pts), default=1)
    x = np.zeros((n_curve, n_point), np.float32)
    y = np.zeros((n_curve, n_point), np.float32)
    mask = np.zeros((n_curve, n_point), bool)
    zero = np.zeros((n_curve, n_point), bool)
    ppc = np.zeros((n_curve, n_point), np.int32)
    dose_v = cells_df["dose"].to_numpy()
    resp_v = cells_df["response"].to_numpy() * scale
    curve_group = np.zeros(n_curve, np.int32)
    curve_exp = np.zeros(n_curve, np.int32)
    pc_idx = {p: i for i, p in enumerate(plate_cells)}
    for (cl, dr, ex), c in curve_key.items():
        curve_group[c] = group_key[(cl, dr)]
        curve_exp[c] = exp_idx[ex]
        j = drug_idx[dr]
        idx = np.array(pts[c], dtype=int)
        n = len(idx)
        d = dose_v[idx]
        isz = d <= 0
        x[c, :n] = np.where(isz, 0.0, np.log10(np.where(isz, 1.0, d) * factor) - center[j])
        y[c, :n] = resp_v[idx] / (signal_scale if raw else 1.0)
        mask[c, :n] = True
        zero[c, :n] = isz
        if raw:
            ppc[c, :n] = [pc_idx[p] for p in cells_df["_pc"].to_numpy()[idx]]

    gmin = np.full(len(group_key), np.inf)
    gmax = np.full(len(group_key), -np.inf)
    for c in range(n_curve):
        m = mask[c] & ~zero[c]
        g = curve_group[c]
        gmin[g] = min(gmin[g], x[c][m].min())
        gmax[g] = max(gmax[g], x[c][m].max())

    data = DoseResponseData(
        cell_lines=cell_lines, drugs=drugs, experiments=experiments,
        group_cell=group_cell, group_drug=group_drug, curve_group=curve_group,
        curve_experiment=curve_exp, x=x, y=y, mask=mask, is_zero=zero,
        drug_center=center, drug_half_range=half, group_log10_min=gmin, group_log10_max=gmax,
        dose_unit=vt.dose_unit, response_scale=vt.response_scale, n_wells=len(vt.df),
    )
    if raw:
        plate_of = {p: i for i, p in enumerate(plates)}
        pcs = df.loc[df["well_role"].ne("blank"), ["_pc", "_plate"]].drop_duplicates("_pc")
        data.plates = plates
        data.plate_cells = plate_cells
        data.plate_cell_plate = np.array(
            [plate_of[dict(zip(pcs["_pc"], pcs["_plate"]))[p]] for p in plate_cells], np.int32)
        data.point_plate_cell = ppc
        b = df[df["well_role"].eq("blank")]
        v = df[df["well_role"].eq("vehicle")]
        data.blank_y = (b["response"].to_numpy() / signal_scale).astype(np.float32)
        data.blank_plate = b["_plate"].map(plate_of).to_numpy().astype(np.int32)
        data.vehicle_y = (v["response"].to_numpy() / signal_scale).astype(np.float32)
        data.vehicle_plate_cell = v["_pc"].map(pc_idx).to_numpy().astype(np.int32)
        data.signal_scale = signal_scale
    return data
