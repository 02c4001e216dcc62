"""Encoding validated tables into dense padded arrays (strings never enter JAX)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .fields import DosedData, DoseScale, Levels, carried_text, carry_by_unit
from .rates import GR_LOWER, rate_bottom_lower
from .validate import ValidatedTable, WellTableOptions


@dataclass
class DoseResponseData(DosedData):
    """Dose-response data as arrays, with the category names kept.

    Curves (``[curve, point]`` padded arrays) are the measured curves, one per cell line x drug
    x experiment; groups are the cell line x drug pairs reported in the summary.

    Log10 doses are molar and centred per drug on the middle of that drug's tested range
    (``x = log10(dose_M) - drug_center[drug]``; see :class:`~drugbayes.data.fields.DoseScale`,
    which also converts them back to the data's unit).
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
    dose_scale: DoseScale  # centring per drug and back-conversion to dose_unit
    group_log10_min: np.ndarray  # [group] lowest positive tested dose, centred log10
    group_log10_max: np.ndarray  # [group] highest tested dose, centred log10
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
    # growth rates (response_scale = "rate") and GR values ("gr")
    rate_unit: str = ""  # unit of growth rates
    bottom_lower: float = 0.0  # lower bound of the bottom as a fraction of the top
    group_log_top_ref: np.ndarray | None = None  # [group] log untreated level / response_ref
    # rates: the table's median untreated rate; y holds rate / response_ref (the model works
    # in units of the untreated rate, like raw signal in units of signal_scale)
    response_ref: float = 1.0
    gr_from_counts: bool = False  # GR values computed from cell counts with time_zero wells
    # columns the model does not use (carried): constant within every curve, per curve; the
    # others (varying within a curve) per well, as text ("" padding)
    carried_curve: dict[str, list[str]] = field(default_factory=dict)
    carried_well: dict[str, np.ndarray] = field(default_factory=dict)  # [curve, point]

    @property
    def n_groups(self) -> int:
        return len(self.group_cell)

    @property
    def attrs(self) -> dict[str, str]:
        """Attributes recorded on the posterior DataTree."""
        out = {"dose_unit": self.dose_unit, "response_scale": self.response_scale}
        if self.rate_unit:
            out["rate_unit"] = self.rate_unit
            out["rate_reference"] = (f"{self.response_ref:.6g} {self.rate_unit} (the model's "
                                     "grp_log_top is log(top / rate_reference))")
        return out

    @property
    def n_curves(self) -> int:
        return len(self.curve_group)

    @property
    def is_raw(self) -> bool:
        return self.response_scale == "raw"

    @property
    def is_rate(self) -> bool:
        """Growth rates (``response_scale = "rate"``): the top is the untreated rate."""
        return self.response_scale == "rate"

    @property
    def is_gr(self) -> bool:
        """GR values (``response_scale = "gr"``): top 1, bottom in (-1, 1)."""
        return self.response_scale == "gr"


def encode_dose_response(vt: ValidatedTable) -> DoseResponseData:
    """Encode a :class:`ValidatedTable` into :class:`DoseResponseData`."""
    df = vt.df
    scale = {"fraction": 1.0, "percent": 0.01, "raw": 1.0, "rate": 1.0,
             "gr": 1.0}[vt.response_scale]
    cells_df = df[df["well_role"].ne("blank")]
    samples = cells_df[cells_df["well_role"].eq("sample")]
    cells = Levels.of(samples["cell_line"], "cell line")
    drugs = Levels.of(samples["drug"], "drug")
    exps = Levels.of(cells_df["experiment"], "experiment") if len(cells_df) else Levels([""])
    doses = DoseScale.from_doses(samples["dose"].to_numpy(), drugs.codes(samples["drug"]),
                                 len(drugs), vt.dose_unit)

    groups = samples[["cell_line", "drug"]].drop_duplicates()
    group_key = {(r.cell_line, r.drug): g for g, r in enumerate(groups.itertuples())}
    group_cell = cells.codes(groups["cell_line"])
    group_drug = drugs.codes(groups["drug"])

    raw = vt.response_scale == "raw"
    plates = Levels([], "plate")
    plate_cells = Levels([], "plate x cell line")
    signal_scale = 1.0
    if raw:
        df = df.copy()
        df["_plate"] = [f"{e}/{p}" if e else str(p) for e, p in zip(df["experiment"], df["plate"])]
        df["_pc"] = df["_plate"] + "/" + df["cell_line"]
        plates = Levels.of(df["_plate"], "plate")
        plate_cells = Levels.of(df.loc[df["well_role"].ne("blank"), "_pc"], "plate x cell line")
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
    pc_codes = plate_cells.codes(cells_df["_pc"]) if raw else None
    for (cl, dr, ex), c in curve_key.items():
        curve_group[c] = group_key[(cl, dr)]
        curve_exp[c] = exps.index[ex]
        idx = np.array(pts[c], dtype=int)
        n = len(idx)
        d = dose_v[idx]
        isz = d <= 0
        x[c, :n] = doses.centre(d, drugs.index[dr])
        y[c, :n] = resp_v[idx] / (signal_scale if raw else 1.0)
        mask[c, :n] = True
        zero[c, :n] = isz
        if pc_codes is not None:  # raw data
            ppc[c, :n] = pc_codes[idx]

    gmin = np.full(len(group_key), np.inf)
    gmax = np.full(len(group_key), -np.inf)
    for c in range(n_curve):
        m = mask[c] & ~zero[c]
        g = curve_group[c]
        gmin[g] = min(gmin[g], x[c][m].min())
        gmax[g] = max(gmax[g], x[c][m].max())

    data = DoseResponseData(
        cell_lines=cells.names, drugs=drugs.names, experiments=exps.names,
        group_cell=group_cell, group_drug=group_drug, curve_group=curve_group,
        curve_experiment=curve_exp, x=x, y=y, mask=mask, is_zero=zero, dose_scale=doses,
        group_log10_min=gmin, group_log10_max=gmax, response_scale=vt.response_scale,
        n_wells=len(vt.df), rate_unit=getattr(vt, "rate_unit", ""),
        gr_from_counts=getattr(vt, "gr_from_counts", False),
    )
    data.carried_curve, data.carried_well = _carry_wells(
        getattr(vt, "carried", None), cells_df.index, pts, mask.shape)
    if vt.response_scale == "rate":
        ref, glob = _untreated_rates(cells_df, groups)
        data.group_log_top_ref = np.log(ref / glob)
        data.response_ref = glob
        data.bottom_lower = rate_bottom_lower(resp_v, glob)
        data.y = (data.y / glob).astype(np.float32)
    elif vt.response_scale == "gr":
        data.bottom_lower = GR_LOWER
    if raw:
        pcs = df.loc[df["well_role"].ne("blank"), ["_pc", "_plate"]].drop_duplicates("_pc")
        plate_of_pc = dict(zip(pcs["_pc"], pcs["_plate"]))
        data.plates = plates.names
        data.plate_cells = plate_cells.names
        data.plate_cell_plate = plates.codes([plate_of_pc[p] for p in plate_cells])
        data.point_plate_cell = ppc
        b = df[df["well_role"].eq("blank")]
        v = df[df["well_role"].eq("vehicle")]
        data.blank_y = (b["response"].to_numpy() / signal_scale).astype(np.float32)
        data.blank_plate = plates.codes(b["_plate"])
        data.vehicle_y = (v["response"].to_numpy() / signal_scale).astype(np.float32)
        data.vehicle_plate_cell = plate_cells.codes(v["_pc"])
        data.signal_scale = signal_scale
    return data


def _carry_wells(carried: pd.DataFrame | None, index: pd.Index, pts: list[list[int]],
                 shape: tuple[int, int]) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Carried columns of a well table by unit: those constant within every unit as the
    units' values, the others as ``[unit, point]`` text of the units' wells.

    ``index``: the kept table's rows (labels of ``carried``) in the order ``pts`` (each unit's
    positions in it) counts them.
    """
    if carried is None:
        return {}, {}
    rows = carried.loc[index]
    unit = np.full(len(index), -1, np.int64)
    for c, p in enumerate(pts):
        unit[np.asarray(p, dtype=np.int64)] = c
    constant, varying = carry_by_unit(rows, unit, len(pts))
    per_well: dict[str, np.ndarray] = {}
    for col in varying:
        txt = carried_text(rows[col]).to_numpy()
        arr = np.full(shape, "", dtype=object)
        for c, p in enumerate(pts):
            arr[c, :len(p)] = txt[np.asarray(p, dtype=np.int64)]
        per_well[col] = arr.astype(str)
    return constant, per_well


def _untreated_rates(cells_df: pd.DataFrame, groups: pd.DataFrame) -> tuple[np.ndarray, float]:
    """The untreated growth rate of each group (cell line x drug) and of the whole table.

    A group's level is the median of its own untreated wells (dose 0); without any, of its cell
    line's untreated wells; without those (or where the median is not > 0), of every untreated
    well (> 0: the validator requires it). A median, so one bad control well does not move it.
    The model centres each group's log top (E0) prior on it.
    """
    unt = cells_df[cells_df["dose"].le(0) & cells_df["well_role"].ne("blank")]
    glob = float(np.median(unt["response"])) if len(unt) else 1.0
    if not np.isfinite(glob) or glob <= 0:
        glob = 1.0
    by_group = unt.groupby(["cell_line", "drug"])["response"].median()
    by_cell = unt.groupby("cell_line")["response"].median()
    ref = np.full(len(groups), glob)
    for g, r in enumerate(groups.itertuples()):
        for v in (by_group.get((r.cell_line, r.drug)), by_cell.get(r.cell_line)):
            if v is not None and np.isfinite(v) and v > 0:
                ref[g] = float(v)
                break
    return ref, glob


def prepare_wells(table, data_cfg, validate: Callable, encode: Callable) -> tuple:
    """Read a table of wells, validate it with the ``[data]`` options of the well kinds (dose
    unit, response scale, missing responses, fewest doses, column names) and encode it.

    Returns
    -------
    (validated table, encoded data)
    """
    from ..io import read_table

    df, src = read_table(table, data_cfg.columns)
    vt = validate(df, src, WellTableOptions.from_config(data_cfg))
    return vt, encode(vt)


# ---------------------------------------------------------------------------------- xenograft
@dataclass
class XenograftData:
    """Xenograft data as padded ``[mouse, obs]`` arrays, with the category names kept.

    Time ``t`` is in days since ``start_day`` (the start of treatment). Groups are the
    cell line x arm pairs reported in the summary.
    """

    mice: list[str]
    arms: list[str]
    cell_lines: list[str]
    experiments: list[str]
    group_cell: np.ndarray  # [group] -> cell line
    group_arm: np.ndarray  # [group] -> arm
    mouse_group: np.ndarray  # [mouse] -> group
    mouse_experiment: np.ndarray  # [mouse] -> experiment
    t: np.ndarray  # [mouse, obs] days since start_day
    volume: np.ndarray  # [mouse, obs] mm3
    mask: np.ndarray  # [mouse, obs]
    censored: np.ndarray  # [mouse, obs] volume <= detection_limit
    day: np.ndarray  # [mouse, obs] the table's day
    mouse_status: list[str]
    start_day: float
    t_end: float  # last measurement, days since start_day
    detection_limit: float
    volume_constant: float
    control_arm: str | None
    tc_day: float  # day of T/C and TGI (default: :func:`default_tc_day`)
    target_volume: float
    baseline_center: float  # median log volume of each mouse's first measurement
    n_rows: int = 0
    has_calipers: bool = False
    length: np.ndarray | None = None  # [mouse, obs] mm (calipers only)
    width: np.ndarray | None = None  # [mouse, obs] mm (calipers only)
    design: str = ""  # what the study's design lets the model identify (set by the family)
    carried_mouse: dict = field(default_factory=dict)  # column -> [mouse] text (constant)
    carried_obs: dict = field(default_factory=dict)  # column -> [mouse, obs] float (NaN pad)
    n_before_select: int = 0  # measured rows before [data] select

    @property
    def n_mice(self) -> int:
        return len(self.mice)

    @property
    def n_groups(self) -> int:
        return len(self.group_cell)

    @property
    def group_labels(self) -> list[str]:
        return [f"{self.cell_lines[c]}|{self.arms[a]}" if self.cell_lines[c] else self.arms[a]
                for c, a in zip(self.group_cell, self.group_arm)]

    @property
    def attrs(self) -> dict:
        """Attributes recorded on the posterior DataTree."""
        return {"volume_unit": "mm3", "time_unit": "day", "start_day": self.start_day,
                "detection_limit_mm3": self.detection_limit,
                "volume_constant": self.volume_constant,
                "control_arm": self.control_arm or "", "tc_day": self.tc_day,
                "target_volume_mm3": self.target_volume, "design": self.design}


def encode_xenograft(vx) -> XenograftData:
    """Encode a :class:`~drugbayes.data.validate.ValidatedXenograft` into arrays."""
    df = vx.df.sort_values(["experiment", "mouse", "day"], kind="stable")
    carried_df = vx.carried.loc[df.index].reset_index(drop=True) if (
        vx.carried is not None) else None
    df = df.reset_index(drop=True)
    o = vx.options
    c = float(o.get("volume_constant", 0.5))
    dl = o.get("detection_limit")
    dl = float(dl) if dl is not None else c * float(o.get("caliper_resolution", 1.0)) ** 3
    start = o.get("start_day")
    start = float(df["day"].min()) if start is None else float(start)
    cells = Levels.of(df["cell_line"], "cell line")
    arms = Levels.of(df["arm"], "arm")
    exps = Levels.of(df["experiment"], "experiment")
    mkey = list(zip(df["experiment"], df["mouse"]))
    mice_keys = list(dict.fromkeys(mkey))
    ids = [m for _, m in mice_keys]
    unique_ids = len(set(ids)) == len(ids)
    labels = [m if unique_ids else (f"{e}/{m}" if e else m) for e, m in mice_keys]
    midx = {k: i for i, k in enumerate(mice_keys)}
    first = df.groupby(["experiment", "mouse"], sort=False).first()
    groups = list(dict.fromkeys((first.loc[k, "cell_line"], first.loc[k, "arm"])
                                for k in mice_keys))
    gidx = {g: i for i, g in enumerate(groups)}
    n_m = len(mice_keys)
    counts = pd.Series(mkey).value_counts()
    n_o = int(counts.max()) if len(counts) else 1
    t = np.zeros((n_m, n_o), np.float32)
    vol = np.ones((n_m, n_o), np.float64)  # float64: published thresholds are exact
    day = np.full((n_m, n_o), np.nan)
    mask = np.zeros((n_m, n_o), bool)
    length = np.ones((n_m, n_o), np.float64)
    width = np.ones((n_m, n_o), np.float64)
    pos = np.zeros(n_m, int)
    rows = np.array([midx[k] for k in mkey])
    cal = vx.has_calipers
    ls = df["length"].to_numpy(float) if cal else np.ones(len(df))
    ws = df["width"].to_numpy(float) if cal else np.ones(len(df))
    for m, d, v, ln, wd in zip(rows, df["day"].to_numpy(), df["volume"].to_numpy(), ls, ws):
        j = pos[m]
        t[m, j] = d - start
        day[m, j] = d
        vol[m, j] = v
        length[m, j] = ln
        width[m, j] = wd
        mask[m, j] = True
        pos[m] += 1
    censored = mask & (vol <= dl)
    last = df.groupby(["experiment", "mouse"], sort=False)["status"].last()
    status = [str(last.loc[k]) for k in mice_keys]
    firstv = np.array([vol[i, 0] for i in range(n_m)])
    pos_first = firstv[firstv > dl]
    center = float(np.median(np.log(pos_first))) if len(pos_first) else float(np.log(100.0))
    ctrl = o.get("control_arm")
    tc_day = o.get("tc_day")
    if tc_day is None:
        tc_day = default_tc_day(df, None if ctrl is None else str(ctrl), start)
    c_mouse, c_obs = _carry(carried_df, rows, n_m, n_o)
    return XenograftData(
        mice=labels, arms=arms.names, cell_lines=cells.names, experiments=exps.names,
        group_cell=cells.codes([g[0] for g in groups]),
        group_arm=arms.codes([g[1] for g in groups]),
        mouse_group=np.array([gidx[(first.loc[k, "cell_line"], first.loc[k, "arm"])]
                              for k in mice_keys], np.int32),
        mouse_experiment=exps.codes([e for e, _ in mice_keys]),
        t=t, volume=vol, mask=mask, censored=censored, day=day, mouse_status=status,
        start_day=start, t_end=float(t[mask].max()) if mask.any() else 0.0,
        detection_limit=dl, volume_constant=c,
        control_arm=None if ctrl is None else str(ctrl), tc_day=float(tc_day),
        target_volume=float(o.get("target_volume", 1000.0)), baseline_center=center,
        n_rows=len(df), has_calipers=vx.has_calipers,
        length=length if cal else None, width=width if cal else None,
        carried_mouse=c_mouse, carried_obs=c_obs, n_before_select=vx.n_before_select)


def default_tc_day(df: pd.DataFrame, control_arm: str | None, start: float) -> float:
    """The default T/C day: the median over the control arm's mice (every mouse without a
    control arm) of the last day each was measured, rounded down to a whole day after
    ``start``. Half of the control mice were followed at least that long; T/C is computed from
    the model, so the day need not be a measurement day of any mouse."""
    sel = df[df["arm"].eq(control_arm)] if control_arm is not None else df
    if sel.empty:
        sel = df
    last = sel.groupby(["experiment", "mouse"])["day"].max()
    return float(start + np.floor(float(np.median(last)) - start)) if len(last) else start


def _carry(carried: pd.DataFrame | None, rows: np.ndarray, n_m: int, n_o: int
           ) -> tuple[dict, dict]:
    """Columns the model does not use, per mouse (constant within every mouse, or text that
    varies: its per-mouse ``;``-joined distinct values) or per measurement (``[mouse, obs]``
    floats, for numeric columns that vary within a mouse, such as body weight).
    ``rows``: the mouse of each (sorted) row (:func:`~drugbayes.data.fields.carry_by_unit`)."""
    per_mouse, varying = carry_by_unit(carried, rows, n_m)
    per_obs: dict = {}
    for col, joined in varying.items():
        txt = carried_text(carried[col])  # type: ignore[index]
        nums = pd.to_numeric(txt.where(txt.ne(""), None), errors="coerce")
        if bool(nums.notna().sum() and (nums.notna() | txt.eq("")).all()):
            arr = np.full((n_m, n_o), np.nan)
            pos = np.zeros(n_m, int)
            for m, v in zip(rows, nums.to_numpy(float)):
                arr[m, pos[m]] = v
                pos[m] += 1
            per_obs[col] = arr
        else:
            per_mouse[col] = joined
    return per_mouse, per_obs
