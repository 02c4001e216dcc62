"""Xenograft summaries, contrasts and plots.

Definitions (``t`` in days since ``start_day``; ``r``, ``b`` a mouse's growth rate and log
baseline volume; ``g(t) = t`` for exponential growth, ``(1 - exp(-beta t)) / beta`` for
Gompertz; the *typical mouse* of an arm has the arm's mean ``r`` and ``b`` and a zero
experiment effect):

- ``growth_rate``: the arm's mean specific growth rate ``d log V / dt`` at the start of
  treatment (per day); for exponential growth it is the rate at every time.
- ``mean_growth_rate`` (Gompertz only): its average over the study window ``[0, T]``,
  ``r (1 - exp(-beta T)) / (beta T)``, ``T`` the last measurement.
- ``doubling_time``: ``ln 2 / growth_rate`` where the rate is positive, else ``inf``;
  ``censored = "no_growth"`` when more than half of the posterior has a rate <= 0.
- ``growth_rate_difference``, ``growth_rate_ratio``: against the control arm of the same cell
  line (``[data] control_arm``); ``p_slower_than_control`` = P(rate < control rate).
- ``tc_ratio``: the ratio of model-based *mean* relative tumour volumes at ``tc_day``,
  ``E[V(t)/V(0)]`` over all mice of the treated arm divided by the same for the control arm;
  with mouse rates ``r ~ Normal(R, sd_r)``, ``E[V(t)/V(0)] = exp(R g(t) + sd_r^2 g(t)^2 / 2)``.
  Computed for every mouse the arm randomised, so culled mice do not bias it. ``tgi`` =
  1 - ``tc_ratio``.
- ``time_to_volume``: posterior predictive days until a new mouse of the arm (baseline and rate
  drawn from the arm's mouse distribution, typical experiment) reaches ``target_volume``:
  0 if it starts above it, ``inf`` if it never does (``censored = "not_reached"`` when more
  than half of the draws are ``inf``). Extrapolates beyond the study window by the model.
- contrasts (factorial designs, ``[[contrasts]] combination, a, b``): ``bliss_excess`` =
  ``(r_ctrl - r_AB) - [(r_ctrl - r_A) + (r_ctrl - r_B)]`` (per day; for exponential growth
  this is Bliss independence on relative tumour volume), ``hsa_excess`` =
  ``min(r_A, r_B) - r_AB``; positive = synergy; ``p_synergy_bliss``, ``p_synergy_hsa`` =
  P(excess > 0).

Regression and regrowth (``growth = "regrowth"``: ``V = V0 [f exp(-d t) + (1 - f) exp(r t)]``):

- ``growth_rate`` is the specific growth rate at the start of treatment, ``(1 - f) r - f d``
  (negative while the tumour shrinks); ``regression_rate`` = ``d``, ``regrowth_rate`` = the
  arm's mean ``r`` (the resistant fraction's rate), ``sensitive_fraction`` = ``f``.
- ``tc_ratio`` uses ``E[V(t)/V(0)] = f exp(-d t) + (1 - f) exp(R t + sd_r^2 t^2 / 2)`` and,
  with a cure component, ``pi exp(-d t) + (1 - pi) (...)``; Simeoni curves average 64 new mice
  per draw. ``time_to_volume`` for Simeoni and regrowth curves is searched on a grid up to
  :data:`HORIZON` times the study window.
- ``linear_growth_rate`` (Simeoni): ``lambda1`` in mm3/day.

Complete regression (``cure = true``), for the arms with a cure component:

- ``p_complete_regression``: the arm's cure fraction ``pi``, the probability that a mouse of
  the arm has its tumour eradicated (posterior, with an interval);
- ``p_all_complete_regression``: the posterior probability that every mouse of the arm in this
  study is cured, ``E[prod_i P(cured_i | data_i, theta)]`` (no interval: it is a probability
  of an event, not a parameter);
- per mouse (``mice.csv``, and ``p_complete_regression_mouse`` in the DataTree):
  ``P(cured_i | data)``.

mRECIST (Gao et al. 2015): ``p_mrecist_cr``, ``p_mrecist_pr``, ``p_mrecist_sd``,
``p_mrecist_pd`` per arm are the class probabilities of a new mouse of the arm; per mouse (in
``mice.csv``) of that mouse; both from posterior-predictive measured trajectories on the arm's
measurement days (measurement error included, values below the detection limit read as 0) and
the rules of :func:`mrecist`. ``mice.csv`` also gives each mouse's observed class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import ConfigError, Issue
from ...inference.registry import get_backend
from ...report.summary import _prob_stats, _stats, in_group_order
from .derived import _draws, derived
from .design import design_of
from .mrecist import (
    MRECIST_CLASSES,
    observed_metrics,
    observed_mrecist,
    predictive_metrics,
    predictive_mrecist,
)

COLUMNS = ["cell_line", "arm", "quantity", "unit", "mean", "sd", "median", "lower", "upper",
           "r_hat", "ess_bulk", "ess_tail", "censored", "interval_prob"]


def mouse_table(data, draws: dict, growth: str = "exponential", seed: int = 0,
                prob: float = 0.95) -> pd.DataFrame:
    """One row per mouse: arm, status, the published response metrics of its measured series
    (Gao et al. 2015, Xeva column names: ``best.response``, ``best.response.time``,
    ``best.average.response``, ``best.average.response.time``, ``time.to.double``,
    ``mRECIST`` with transitions; ``observed_mrecist`` the class alone), their posterior
    predictive medians and intervals (``pred_<metric>_median/lower/upper``: the mouse's own
    posterior growth re-measured on its arm's days with the model's measurement error), the
    mRECIST class probabilities, the posterior probability of complete regression (cure
    component) and the mouse's growth rate (median and interval)."""
    pm = predictive_metrics(data, draws, growth, per="mouse", seed=seed)
    rate = _draws(draws, "mouse_rate")
    flat = rate.reshape(-1, rate.shape[-1])
    q = [(1 - prob) / 2, 0.5, (1 + prob) / 2]
    obs = observed_metrics(data)
    df = pd.DataFrame({
        "cell_line": [data.cell_lines[data.group_cell[g]] for g in data.mouse_group],
        "arm": [data.arms[data.group_arm[g]] for g in data.mouse_group],
        "experiment": [data.experiments[e] for e in data.mouse_experiment],
        "mouse": data.mice, "status": data.mouse_status,
        "observed_mrecist": observed_mrecist(data), "mRECIST": obs["mRECIST"],
        **{k: obs[k] for k in METRICS},
        "growth_rate_median": np.median(flat, axis=0),
        "growth_rate_lower": np.quantile(flat, q[0], axis=0),
        "growth_rate_upper": np.quantile(flat, q[2], axis=0)})
    for key in ("best.response", "best.average.response", "time.to.double"):
        qs = np.full((data.n_mice, 3), np.nan)
        for i, row in enumerate(pm[key]):
            row = row[~np.isnan(row)]  # undefined draws; inf (never doubled) is kept
            if len(row):
                qs[i] = np.quantile(row, q, method="nearest")
        for j, name in enumerate(("lower", "median", "upper")):
            df[f"pred_{key}_{name}"] = qs[:, j]
    if "p_complete_regression_mouse" in draws:
        p = _draws(draws, "p_complete_regression_mouse")
        df["p_complete_regression"] = p.reshape(-1, p.shape[-1]).mean(axis=0)
    for k, c in enumerate(MRECIST_CLASSES):
        df[f"p_mrecist_{c}"] = pm["p"][:, k]
    for col, vals in getattr(data, "carried_mouse", {}).items():  # carried, not modelled
        if col not in df.columns:
            df[col] = vals
    for col, arr in getattr(data, "carried_obs", {}).items():
        for name, pick in (("first", 0), ("last", -1)):
            key = f"{col}_{name}"
            if key not in df.columns:
                df[key] = [row[np.isfinite(row)][pick] if np.isfinite(row).any() else np.nan
                           for row in arr]
    return df


METRICS = ("best.response", "best.response.time", "best.average.response",
           "best.average.response.time", "time.to.double")
"""The published per-mouse metrics (:mod:`.mrecist`) in ``mice.csv``."""


UNITS = {"growth_rate": "1/day", "mean_growth_rate": "1/day", "doubling_time": "day",
         "growth_rate_difference": "1/day", "growth_rate_ratio": "ratio",
         "p_slower_than_control": "probability", "tc_ratio": "ratio", "tgi": "fraction",
         "time_to_volume": "day", "p_effect_above_threshold": "probability",
         "sd_line_effect": "1/day", "log_growth_rate_ratio": "log ratio",
         "sd_mouse_rate": "1/day",
         "bliss_excess": "1/day", "p_synergy_bliss": "probability",
         "hsa_excess": "1/day", "p_synergy_hsa": "probability",
         "regression_rate": "1/day", "regrowth_rate": "1/day",
         "sensitive_fraction": "fraction", "linear_growth_rate": "mm3/day",
         "p_complete_regression": "probability", "p_all_complete_regression": "probability",
         **{f"p_mrecist_{c}": "probability" for c in MRECIST_CLASSES}}


def _control_groups(data) -> dict[int, int]:
    """Arm group -> the control arm group of its cell line (where there is one)."""
    if data.control_arm is None or data.control_arm not in data.arms:
        return {}
    ca = data.arms.index(data.control_arm)
    ctrl = {int(c): g for g, (c, a) in enumerate(zip(data.group_cell, data.group_arm))
            if a == ca}
    return {g: ctrl[int(c)] for g, c in enumerate(data.group_cell) if int(c) in ctrl}


def summarize_xenograft(data, draws: dict, contrasts: list[dict] | None = None,
                        prob: float = 0.95, method: str = "nuts",
                        scale: str = "log", growth: str | None = None,
                        mrecist_rows: bool = True, seed: int = 0,
                        threshold: float = 0.01) -> pd.DataFrame:
    """Summary table of the ``xenograft`` family (one row per arm group and quantity).

    Parameters
    ----------
    data : XenograftData
    draws : dict
        Posterior draws ``(chain, draw, ...)`` of the family's deterministic sites.
    contrasts : list of dict
        ``{"combination": arm, "a": arm, "b": arm}`` (optional ``cell_line``, ``control``).
    prob : float
        Interval probability (equal-tailed).
    method : str
        Back-end; R-hat/ESS are reported for ``nuts`` only.
    scale : {"log", "log1p"}
        The model's volume scale (``time_to_volume`` target).
    growth : str, optional
        The growth form (``"gompertz"`` adds ``mean_growth_rate``, ``"regrowth"``
        ``regression_rate``, ``regrowth_rate`` and ``sensitive_fraction``, ``"simeoni"``
        ``linear_growth_rate``).
    mrecist_rows : bool
        Add the per-arm mRECIST class probabilities (posterior predictive).
    threshold : float
        ``p_effect_above_threshold`` = P(control rate - treated rate > threshold), 1/day.
    """
    diag = get_backend(method).chains
    growth = growth or "exponential"
    dq = derived(data, draws, scale, seed=seed, growth=growth)
    gompertz = growth == "gompertz"
    cl = [data.cell_lines[c] for c in data.group_cell]
    arm = [data.arms[a] for a in data.group_arm]
    G = data.n_groups
    ctrl = _control_groups(data)
    frames = []

    def rows(q, st, groups, cens=None):
        frames.append(pd.DataFrame({
            "cell_line": [cl[g] for g in groups], "arm": [arm[g] for g in groups],
            "quantity": q, "unit": UNITS[q], **st,
            "censored": cens if cens is not None else [""] * len(groups)}))

    allg = list(range(G))
    rows("growth_rate", _stats(dq["growth_rate"], prob, diag), allg)
    if gompertz:
        rows("mean_growth_rate", _stats(dq["mean_growth_rate"], prob, diag), allg)
    for q in ("regression_rate", "regrowth_rate", "sensitive_fraction", "linear_growth_rate"):
        if q in dq:
            rows(q, _stats(dq[q], prob, diag), allg)
    if "grp_cure_fraction" in draws:
        cure_g = [g for g in allg if np.any(_draws(draws, "grp_cure_fraction")[..., g] > 0)]
        if cure_g:
            idx = np.array(cure_g)
            rows("p_complete_regression",
                 _stats(_draws(draws, "grp_cure_fraction")[..., idx], prob, diag), cure_g)
            if "p_complete_regression_mouse" in draws:
                pm = _draws(draws, "p_complete_regression_mouse")
                p_all = np.stack([np.prod(pm[..., data.mouse_group == g], axis=-1)
                                  for g in cure_g], -1)
            else:  # draws without the per-mouse pass (the prior's, for contraction): rows
                # kept, empty, so that the summary's rows stay those of the posterior's
                p_all = np.full(_draws(draws, "grp_cure_fraction")[..., idx].shape, np.nan)
            rows("p_all_complete_regression", _prob_stats(p_all), cure_g)

    p_neg = (dq["growth_rate"] <= 0).reshape(-1, G).mean(axis=0)
    rows("doubling_time", _stats(dq["doubling_time"], prob, diag), allg,
         np.where(p_neg > 0.5, "no_growth", ""))
    treated = [g for g in allg if g in ctrl and ctrl[g] != g]
    if treated:
        idx = np.array(treated)
        cidx = np.array([ctrl[g] for g in treated])
        r = dq["growth_rate"]
        rows("growth_rate_difference", _stats(r[..., idx] - r[..., cidx], prob, diag), treated)
        with np.errstate(divide="ignore", invalid="ignore"):
            st, why = _ratio(r[..., idx], r[..., cidx], prob, diag, "control growth rate")
            rows("growth_rate_ratio", st, treated, why)
        rows("p_slower_than_control",
             _prob_stats((r[..., idx] < r[..., cidx]).astype(float)), treated)
        rows("p_effect_above_threshold",
             _prob_stats((r[..., cidx] - r[..., idx] > threshold).astype(float)), treated)
        tc = np.exp(np.clip(dq["_log_rtv"][..., idx] - dq["_log_rtv"][..., cidx], -700, 700))
        rows("tc_ratio", _stats(tc, prob, diag), treated)
        rows("tgi", _stats(1.0 - tc, prob, diag), treated)
    ttv = dq["time_to_volume"]
    p_inf = np.isinf(ttv).reshape(-1, G).mean(axis=0)
    rows("time_to_volume", _stats(ttv, prob, False), allg,
         np.where(p_inf > 0.5, "not_reached", ""))
    if mrecist_rows:
        p_cls = predictive_mrecist(data, draws, growth, per="arm", seed=seed)
        for k, c in enumerate(MRECIST_CLASSES):
            rows(f"p_mrecist_{c}", _point(p_cls[:, k]), allg)
    contrasts = list(contrasts or [])
    design = design_of(data)
    if design.pdx:
        contrasts += [c for c in combination_contrasts(data) if c not in contrasts]
    for contrast in contrasts:
        frames += _synergy_rows(data, dq, contrast, prob, diag)
    if design.pdx:
        frames += pooled_rows(data, draws, dq, contrasts, prob, diag, threshold)
    if not design.any_mouse_level:  # the design, in the table as well as in the log
        nan = np.full(1, np.nan)
        frames.append(pd.DataFrame({
            "cell_line": "pooled" if design.pdx else "", "arm": "",
            "quantity": "sd_mouse_rate", "unit": UNITS["sd_mouse_rate"],
            **{k: nan for k in ("mean", "sd", "median", "lower", "upper", "r_hat",
                                "ess_bulk", "ess_tail")},
            "censored": "not_identified: one mouse per line and arm, no mouse variance fitted"}))
    out = in_group_order(frames, list(zip(cl, arm)), ("cell_line", "arm"), prob, COLUMNS)
    tc_unit = f"fraction at day {data.tc_day:g}"
    out.loc[out["quantity"].isin(["tgi"]), "unit"] = tc_unit
    out.loc[out["quantity"].isin(["tc_ratio"]), "unit"] = f"ratio at day {data.tc_day:g}"
    return out


def _ratio(num: np.ndarray, den: np.ndarray, prob: float, diag: bool,
           what: str) -> tuple[dict, np.ndarray]:
    """Statistics of ``num / den``, undefined (NaN, with the reason in ``censored``) where the
    interval of the denominator includes zero."""
    st = _stats(num / den, prob, diag)
    flat = den.reshape(-1, den.shape[-1])
    lo, hi = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    bad = (lo <= 0) & (hi >= 0)
    for k in st:
        st[k] = np.where(bad, np.nan, st[k])
    why = np.where(bad, f"undefined: the {prob:.0%} interval of the {what} includes 0", "")
    return st, why


def combination_contrasts(data) -> list[dict]:
    """Combination arms named ``A+B`` (both parts arms of the data) as contrasts against the
    control arm: their in-vivo Bliss and HSA excess is reported without ``[[contrasts]]``."""
    if data.control_arm is None:
        return []
    out = []
    for name in data.arms:
        parts = [p.strip() for p in name.split("+")]
        if len(parts) == 2 and all(p in data.arms and p != data.control_arm for p in parts):
            out.append({"combination": name, "a": parts[0], "b": parts[1]})
    return out


def pooled_rows(data, draws: dict, dq: dict, contrasts: list[dict], prob: float, diag: bool,
                threshold: float) -> list[pd.DataFrame]:
    """Rows with ``cell_line = "pooled"`` (one mouse per line, :mod:`.design`): per treatment
    its population effect on the growth rate (``growth_rate_difference``), the between-line sd
    of that effect (``sd_line_effect``), the log ratio of the treated to the untreated rate of
    the trial's average line (``log_growth_rate_ratio``), its TGI at ``tc_day``
    (``1 - exp(effect * t)``), ``p_effect_above_threshold``; per combination the population
    Bliss excess on the growth rate, ``effect_A + effect_B - effect_AB``, and
    ``p_synergy_bliss``."""
    design = design_of(data)
    eff = _draws(draws, "treatment_effect")
    sd = _draws(draws, "sd_line_effect")
    names = [data.arms[t] for t in design.treatments]
    ctrl = [g for g in range(data.n_groups) if design.group_treatment[g] < 0]
    r = dq["growth_rate"]
    r0 = r[..., np.array(ctrl)].mean(axis=-1, keepdims=True) if ctrl else np.full(
        eff.shape[:2] + (1,), np.nan)
    t_tc = data.tc_day - data.start_day
    out = []

    def add(q: str, arms: list[str], st: dict, cens=None):
        out.append(pd.DataFrame({"cell_line": "pooled", "arm": arms, "quantity": q,
                                 "unit": UNITS[q], **st,
                                 "censored": cens if cens is not None else ""}))

    add("growth_rate_difference", names, _stats(eff, prob, diag))
    sd_st = _stats(sd, prob, diag)
    fixed = ~design.treatment_spread
    add("sd_line_effect", names, sd_st,
        np.where(fixed, "not_identified: treatment in one line only (fixed at 0)", ""))
    treated_rate = r0 + eff
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = treated_rate / r0
        # a draw with a rate <= 0 has no log ratio: -inf (only a tail below the interval is
        # allowed such draws; otherwise the row is undefined, below)
        lr = np.where((ratio > 0) & (r0 > 0), np.log(np.where(ratio > 0, ratio, 1.0)), -np.inf)
    st = _stats(lr, prob, diag)
    flat0 = np.broadcast_to(r0, eff.shape).reshape(-1, eff.shape[-1])
    flat1 = treated_rate.reshape(-1, eff.shape[-1])
    q = (1 - prob) / 2
    bad0 = np.quantile(flat0, q, axis=0) <= 0
    bad1 = np.quantile(flat1, q, axis=0) <= 0
    for k in st:
        st[k] = np.where(bad0 | bad1, np.nan, st[k])
    why = np.where(bad0, f"undefined: the {prob:.0%} interval of the untreated rate reaches 0",
                   np.where(bad1, f"undefined: the {prob:.0%} interval of the treated rate "
                            "reaches 0 (regression)", ""))
    add("log_growth_rate_ratio", names, st, why)
    add("tgi", names, _stats(1.0 - np.exp(np.clip(eff * t_tc, -700, 700)), prob, diag))
    add("p_effect_above_threshold", names, _prob_stats((-eff > threshold).astype(float)))
    pos = {n: k for k, n in enumerate(names)}
    for c in contrasts:
        if c.get("cell_line") or not all(str(c[k]) in pos for k in ("combination", "a", "b")):
            continue
        e = {k: eff[..., pos[str(c[k])]] for k in ("combination", "a", "b")}
        bliss = (e["a"] + e["b"] - e["combination"])[..., None]
        add("bliss_excess", [str(c["combination"])], _stats(bliss, prob, diag))
        add("p_synergy_bliss", [str(c["combination"])], _prob_stats((bliss > 0).astype(float)))
    return out


def _point(p: np.ndarray) -> dict[str, np.ndarray]:
    """A posterior-predictive probability (no interval, no diagnostics)."""
    return _prob_stats(np.asarray(p, np.float64)[None, None])


def _contrast_cells(data, c: dict) -> list[int]:
    arms = [str(c.get(k)) for k in ("combination", "a", "b")]
    arms.append(str(c.get("control", data.control_arm)))
    cells: range | list[int] = range(len(data.cell_lines))
    if "cell_line" in c:
        name = str(c["cell_line"])
        cells = [data.cell_lines.index(name)] if name in data.cell_lines else []
    have = {(int(cc), data.arms[a]) for cc, a in zip(data.group_cell, data.group_arm)}
    return [cc for cc in cells if all((cc, a) in have for a in arms)]


def _synergy_rows(data, dq: dict, c: dict, prob: float, diag: bool) -> list[pd.DataFrame]:
    gid = {(data.cell_lines[cc], data.arms[a]): g
           for g, (cc, a) in enumerate(zip(data.group_cell, data.group_arm))}
    r = dq["growth_rate"]
    out = []
    control = str(c.get("control", data.control_arm))
    for cc in _contrast_cells(data, c):
        name = data.cell_lines[cc]
        ab, a, b, k = (gid[(name, str(c[x]))] if x != "control" else gid[(name, control)]
                       for x in ("combination", "a", "b", "control"))
        r_ab, r_a, r_b, r_c = r[..., ab], r[..., a], r[..., b], r[..., k]
        bliss = (r_c - r_ab) - ((r_c - r_a) + (r_c - r_b))
        hsa = np.minimum(r_a, r_b) - r_ab
        st = {q: _stats(v[..., None], prob, diag) for q, v in (("bliss", bliss), ("hsa", hsa))}
        p = {q: _prob_stats((v > 0)[..., None].astype(float))
             for q, v in (("bliss", bliss), ("hsa", hsa))}
        quantities = [("bliss_excess", st["bliss"]), ("p_synergy_bliss", p["bliss"]),
                      ("hsa_excess", st["hsa"]), ("p_synergy_hsa", p["hsa"])]
        out.append(pd.DataFrame({
            "cell_line": name, "arm": str(c["combination"]),
            "quantity": [q for q, _ in quantities], "unit": [UNITS[q] for q, _ in quantities],
            **{k: [s[k][0] for _, s in quantities] for k in quantities[0][1]},
            "censored": ""}))
    return out


def validate_xenograft_contrasts(data, contrasts: list[dict], source: str = "<config>") -> None:
    """Check every ``[[contrasts]]`` entry against the data (all problems at once)."""
    issues = []
    arms = set(data.arms)
    for i, c in enumerate(contrasts):
        for k in sorted(set(c) - {"combination", "a", "b", "cell_line", "control"}):
            issues.append(Issue(source, None, f"contrasts[{i}].{k}", None,
                                "unknown key (expected combination, a, b, and optionally "
                                "cell_line, control)"))
        for k in ("combination", "a", "b"):
            if k not in c:
                issues.append(Issue(source, None, f"contrasts[{i}].{k}", None,
                                    "required (an arm name)"))
        control = c.get("control", data.control_arm)
        if control is None:
            issues.append(Issue(source, None, f"contrasts[{i}]", None,
                                "a control arm is required: set [data] control_arm or the "
                                "contrast's control"))
        for k in ("combination", "a", "b", "control"):
            v = c.get(k, control if k == "control" else None)
            if v is not None and str(v) not in arms:
                issues.append(Issue(source, None, f"contrasts[{i}].{k}", str(v),
                                    f"not an arm of the data (arms: {', '.join(data.arms)})"))
        if "cell_line" in c and str(c["cell_line"]) not in data.cell_lines:
            issues.append(Issue(source, None, f"contrasts[{i}].cell_line", str(c["cell_line"]),
                                "not a cell line of the data"))
        if not issues and {"combination", "a", "b"} <= set(c) and not _contrast_cells(data, c):
            issues.append(Issue(source, None, f"contrasts[{i}]", None,
                                "no cell line has all four arms (control, a, b, combination)"))
    if issues:
        raise ConfigError(issues)


