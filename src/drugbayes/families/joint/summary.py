"""Summary of the ``joint`` family: each block's own summary, plus the link's rows.

Every row has an ``assay`` column: ``dose_response`` (the shared monotherapy curves: every
in-vitro cell line x drug, each IC50 from both in-vitro assays), ``combination``,
``xenograft`` and ``link`` (concentrations, maximal reductions, per line x drug reductions,
synergy slope, predictions, and the checkerboards' assay offsets on log10 IC50 and top). The
blocks' own columns are kept (a column one block lacks is empty in the others' rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import ConfigError, Issue
from ...inference.registry import get_backend
from ...report.summary import _stats
from ..xenograft.spec import TIME_SCALE
from .data import COMPONENTS, JointData
from .derived import stripped
from .model import component_spec


def combination_draws(data: JointData, draws: dict) -> dict[str, np.ndarray]:
    """The combination's draws with its monotherapy sites (given by the shared hierarchy)
    filled in: ``mono_*`` from the dose-response curves (plus the assay offset) and ``mu_*``
    from the dose-response drug means."""
    cb = data.blocks["combination"]
    out = stripped(draws, "combination")
    dr = stripped(draws, "dose_response")
    g = data.comb_mono_group
    md = cb.mono_drug
    shape = dr["grp_log10_ic50"].shape[:2]
    offset = np.zeros(shape + (len(cb.drugs),))
    if len(data.offset_drugs):
        offset[..., data.offset_drugs] = np.asarray(draws["link.assay_log10_ic50"])
    reg = np.array([data.drugs.index(d) for d in cb.drugs])
    shift = np.asarray(data.comb_shift, np.float64)
    out["mono_log10_c"] = np.asarray(dr["grp_log10_ic50"])[..., g] + shift[md] + offset[..., md]
    out["mono_log_hill"] = np.asarray(dr["grp_log_hill"])[..., g]
    out["mono_logit_bottom"] = np.asarray(dr["grp_logit_bottom"])[..., g]
    if "mu_log10_ic50" in dr:
        out["mu_log10_c"] = np.asarray(dr["mu_log10_ic50"])[..., reg] + shift + offset
        out["mu_log_hill"] = np.asarray(dr["mu_log_hill"])[..., reg]
        out["mu_logit_bottom"] = np.asarray(dr["mu_logit_bottom"])[..., reg]
    return out


def _rows(quantity: str, unit: str, draws: np.ndarray, labels: list[dict], prob: float,
          diag: bool) -> pd.DataFrame:
    d = np.asarray(draws, np.float64)
    if d.ndim == 2:
        d = d[..., None]
    st = _stats(d, prob, diag)
    return pd.DataFrame({**{k: [lab.get(k, "") for lab in labels]
                            for k in ("cell_line", "drug", "arm")},
                         "quantity": quantity, "unit": unit, **st})


def link_rows(data: JointData, draws: dict, prob: float, diag: bool) -> list[pd.DataFrame]:
    """The link's rows (rates per day; concentrations in the in-vitro dose unit) and the
    checkerboards' assay offsets (log10 IC50 per drug, log top)."""
    frames = assay_rows(data, draws, prob, diag)
    if "xenograft" not in data.blocks:
        return frames
    S = TIME_SCALE
    sc = data.dr.dose_scale
    ldrugs = sorted(set(int(x) for x in data.unit_drug))
    if "link.log10_conc" in draws:
        lc = np.asarray(draws["link.log10_conc"], np.float64) + sc.shift[ldrugs]
        frames.append(_rows("effective_concentration", sc.unit, 10.0 ** lc,
                            [{"drug": data.drugs[d]} for d in ldrugs], prob, diag))
    if "link.rmax_10d" in draws:
        frames.append(_rows("rmax", "1/day", np.asarray(draws["link.rmax_10d"]) / S,
                            [{"drug": data.drugs[d]} for d in ldrugs], prob, diag))
    for site, q in (("link.slope_10d", "link_slope"), ("link.sigma_link_10d", "link_sd"),
                    ("link.synergy_slope_10d", "synergy_slope"),
                    ("link.sigma_synergy_10d", "synergy_sd")):
        if site in draws:
            frames.append(_rows(q, "1/day", np.asarray(draws[site]) / S, [{}], prob, diag))
    units = [{"cell_line": c, "drug": d} for c, d in data.link_units]
    if "link.reduction" in draws:
        frames.append(_rows("rate_reduction", "1/day", draws["link.reduction"], units, prob,
                            diag))
        frames.append(_rows("viability_at_concentration", "fraction of untreated",
                            draws["link.viability_at_c"], units, prob, diag))
    syn = [{"cell_line": c, "drug": f"{a}+{b}"} for c, a, b in data.syn_units]
    if "link.in_vivo_excess" in draws:
        frames.append(_rows("in_vitro_bliss_excess", "fraction", draws["link.in_vitro_bliss"],
                            syn, prob, diag))
        frames.append(_rows("in_vivo_bliss_excess", "1/day", draws["link.in_vivo_excess"],
                            syn, prob, diag))
    frames.append(_rows("control_rate", "1/day", draws["link.control_rate"],
                        [{"cell_line": c} for c in data.link_cells], prob, diag))
    if data.predict and "link.predicted_rate" in draws:
        labels = [{"cell_line": p["cell_line"], "arm": p["arm"],
                   "drug": "+".join(data.arm_drugs[p["arm"]])} for p in data.predict]
        frames.append(_rows("predicted_rate", "1/day", draws["link.predicted_rate"], labels,
                            prob, diag))
        frames.append(_rows("predicted_tc", "ratio", draws["link.predicted_tc"], labels,
                            prob, diag))
    return frames


def assay_rows(data: JointData, draws: dict, prob: float, diag: bool) -> list[pd.DataFrame]:
    """The checkerboards' offsets from the dose-response plates: per drug on log10 IC50, and
    on the top (natural log of the ratio of the checkerboards' untreated level to the
    dose-response curves' top)."""
    frames = []
    if len(data.offset_drugs) and "link.assay_log10_ic50" in draws:
        cb = data.blocks["combination"]
        frames.append(_rows("assay_offset_log10_ic50", "log10", draws["link.assay_log10_ic50"],
                            [{"drug": cb.drugs[int(j)]} for j in data.offset_drugs], prob,
                            diag))
    if "link.assay_log_top" in draws:
        frames.append(_rows("assay_offset_log_top", "log ratio", draws["link.assay_log_top"],
                            [{}], prob, diag))
    return frames


def summarize(data: JointData, draws: dict, contrasts: list[dict] | None = None,
              prob: float = 0.95, method: str = "nuts", *, spec=None,
              seed: int = 0) -> pd.DataFrame:
    """Every block's summary (its family's own) and the link's rows, with an ``assay``
    column."""
    diag = get_backend(method).chains
    frames = []
    dr = COMPONENTS["dose_response"].summarize(data.dr, stripped(draws, "dose_response"), None,
                                               prob, method)
    frames.append(dr.assign(assay="dose_response"))
    if "combination" in data.blocks:
        s_cb = component_spec(spec, "combination") if spec is not None else None
        cb = COMPONENTS["combination"].summarize(data.blocks["combination"],
                                                 combination_draws(data, draws), None, prob,
                                                 method, spec=s_cb, seed=seed)
        frames.append(cb.assign(assay="combination"))
    if "xenograft" in data.blocks:
        s_xe = component_spec(spec, "xenograft") if spec is not None else None
        xd = stripped(draws, "xenograft")
        xe = COMPONENTS["xenograft"].summarize(data.blocks["xenograft"], xd, None, prob,
                                               method, spec=s_xe, seed=seed)
        frames.append(xe.assign(assay="xenograft"))
    link = link_rows(data, draws, prob, diag)
    if link:
        frames.append(pd.concat(link, ignore_index=True).assign(assay="link",
                                                                interval_prob=prob))
    out = data.label_units(pd.concat(frames, ignore_index=True))  # each drug's dose unit
    cols = ["assay"] + [c for c in out.columns if c != "assay"]
    return out[cols]


def validate_contrasts(data: JointData, contrasts: list[dict], source: str = "<config>") -> None:
    """The joint model takes no ``[[contrasts]]`` yet (each block's summary has its own)."""
    if contrasts:
        raise ConfigError([Issue(source, None, "contrasts", None,
                                 "the joint model takes no [[contrasts]]")])
