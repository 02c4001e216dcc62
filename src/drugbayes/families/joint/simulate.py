"""Simulated joint studies: dose-response plates, checkerboards and a xenograft, linked.

The truth follows the joint model's generative story (:mod:`.model`): one curve per cell line x
drug (the checkerboard's monotherapy curve shifted by a per-drug assay offset on log10 IC50,
its top, the checkerboard's untreated level, the dose-response top 1 times ``exp(top_offset)``),
each line's in-vivo reduction of its growth rate ``rmax[drug] * (1 - v(C[drug])) + residual``
and a two-drug arm's in-vivo Bliss excess ``slope * in-vitro Bliss excess + residual``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...curves import log_logistic, musyc_e3, musyc_viability

REFERENCE_LINES = ("BT474", "SKBR3", "HCC1954", "SKBR3-L", "HCC1954-L")
REFERENCE_DRUGS = ("lapatinib", "trastuzumab")


def _v(x, ic50, hill, bottom):
    return log_logistic(np.asarray(x, np.float64), ic50, hill, 1.0, bottom, xp=np)


def simulate_joint(cell_lines=REFERENCE_LINES, drugs=REFERENCE_DRUGS, *,
                   checkerboard_lines=None, xenograft_lines=None, combination_arm=True,
                   n_doses: int = 7, n_replicates: int = 2, checker_doses: int = 4,
                   n_mice_per_arm: int = 4, days=(0, 4, 7, 11, 14, 18, 21),
                   noise_sd: float = 0.05, volume_sd: float = 0.1, seed: int = 0,
                   ic50_means=None, conc=None, rmax=None, synergy_slope: float = 0.1,
                   link_sd: float = 0.005, synergy_sd: float = 0.005,
                   log10_ic50=None, bottom=None, top_offset: float = 0.0
                   ) -> tuple[dict[str, pd.DataFrame], dict]:
    """A simulated joint study with its truth.

    Parameters
    ----------
    cell_lines, drugs : sequence of str
        Every line has dose-response curves of every drug.
    checkerboard_lines : sequence of str, optional
        Lines with a checkerboard of the first two drugs (default: the first three).
    xenograft_lines : sequence of str, optional
        Lines with a xenograft (default: the first and the fourth, or the last): a vehicle
        arm, one arm per drug and (``combination_arm``) one with the first two drugs.
    ic50_means, conc, rmax : dict, optional
        Per drug: mean log10 IC50 (uM), in-vivo effective concentration (uM), largest
        reduction of the growth rate (1/day).
    log10_ic50, bottom : dict, optional
        ``{(cell line, drug): value}``: fixed log10 IC50 (uM) and bottom fraction of some
        curves (the others drawn).
    top_offset : float
        The checkerboards' assay offset on the top: their untreated level (the top of their
        monotherapy curves) is ``exp(top_offset)`` against the dose-response curves' top 1
        (natural log; the model's ``link.assay_log_top``).

    Returns
    -------
    (tables, truth)
        ``tables``: ``{"dose_response", "combination", "xenograft"}`` DataFrames (doses in
        uM); ``truth``: the parameters (``curves`` DataFrame, ``offset``, ``top_offset``,
        ``conc``, ``rmax``, ``control_rate``, ``reduction``, ``bliss``, ``excess``,
        ``arm_rate``, ``arm_drugs``).
    """
    rng = np.random.default_rng(seed)
    cells = list(cell_lines)
    drugs = list(drugs)
    checker = list(checkerboard_lines if checkerboard_lines is not None else cells[:3])
    xeno = list(xenograft_lines if xenograft_lines is not None
                else [cells[0], cells[3] if len(cells) > 3 else cells[-1]])
    ic50_means = ic50_means or {d: m for d, m in zip(drugs, (-1.0, -0.5, 0.0, 0.5))}
    conc = conc or {d: 10.0 ** (ic50_means[d] + 0.3) for d in drugs}
    rmax = rmax or {d: r for d, r in zip(drugs, (0.12, 0.08, 0.1, 0.1))}
    # curves
    rows = []
    cell_eff = rng.normal(0.0, 0.4, len(cells))
    for i, c in enumerate(cells):
        for d in drugs:
            row = {"cell_line": c, "drug": d,
                   "log10_ic50": ic50_means[d] + cell_eff[i] + rng.normal(0, 0.3),
                   "hill": float(np.exp(rng.normal(0.0, 0.2))),
                   "bottom_fraction": float(1 / (1 + np.exp(-rng.normal(-1.5, 0.5))))}
            row["log10_ic50"] = (log10_ic50 or {}).get((c, d), row["log10_ic50"])
            row["bottom_fraction"] = (bottom or {}).get((c, d), row["bottom_fraction"])
            rows.append(row)
    curves = pd.DataFrame(rows)
    cv = {(r.cell_line, r.drug): r for r in curves.itertuples()}
    offset = {d: float(rng.normal(0.0, 0.1)) for d in drugs}
    # dose-response wells (one experiment)
    wells = []
    for r in curves.itertuples():
        centre = ic50_means[r.drug]
        doses = 10.0 ** np.linspace(centre - 2.0, centre + 2.0, n_doses)
        for rep in range(n_replicates):
            y = _v(np.log10(doses), r.log10_ic50, r.hill, r.bottom_fraction)
            y = y + rng.normal(0, noise_sd, len(doses))
            for dose, yy in zip(doses, y):
                wells.append({"cell_line": r.cell_line, "drug": r.drug, "dose": float(dose),
                              "replicate": rep + 1, "response": round(float(yy), 5)})
    tables = {"dose_response": pd.DataFrame(wells)}
    # checkerboards of the first two drugs
    da, db = drugs[0], drugs[1]
    beta = {c: float(rng.normal(0.3, 0.2)) for c in checker}
    comb = []

    def surface(c, xa, xb, za, zb):
        a, b = cv[(c, da)], cv[(c, db)]
        e0 = float(np.exp(top_offset))
        e1, e2 = e0 * a.bottom_fraction, e0 * b.bottom_fraction
        e3 = musyc_e3(e0, e1, e2, beta[c], np)
        return musyc_viability(xa, xb, za, zb, a.log10_ic50 + offset[da],
                               b.log10_ic50 + offset[db], a.hill, b.hill, e0, e1, e2, e3,
                               0.0, 0.0, xp=np)

    for c in checker:
        ga = 10.0 ** np.linspace(ic50_means[da] - 1.5, ic50_means[da] + 1.5, checker_doses)
        gb = 10.0 ** np.linspace(ic50_means[db] - 1.5, ic50_means[db] + 1.5, checker_doses)
        A, B = np.meshgrid(np.concatenate([[0.0], ga]), np.concatenate([[0.0], gb]),
                           indexing="ij")
        xa = np.log10(np.where(A > 0, A, 1.0))
        xb = np.log10(np.where(B > 0, B, 1.0))
        v = surface(c, xa, xb, A == 0, B == 0)
        for rep in range(n_replicates):
            y = v + rng.normal(0, noise_sd, v.shape)
            for i, j in np.ndindex(v.shape):
                comb.append({"cell_line": c, "drug_a": da, "dose_a": float(A[i, j]),
                             "drug_b": db, "dose_b": float(B[i, j]), "replicate": rep + 1,
                             "response": round(float(y[i, j]), 5)})
    tables["combination"] = pd.DataFrame(comb)
    # xenograft
    arm_drugs = {"vehicle": [], **{d: [d] for d in drugs[:2]}}
    if combination_arm:
        arm_drugs[f"{da}+{db}"] = [da, db]
    r0 = {c: float(rng.normal(0.08, 0.015)) for c in xeno}
    red = {(c, d): rmax[d] * (1 - float(_v(np.log10(conc[d]), cv[(c, d)].log10_ic50,
                                          cv[(c, d)].hill, cv[(c, d)].bottom_fraction)))
           + float(rng.normal(0, link_sd)) for c in xeno for d in drugs[:2]}
    bliss, excess = {}, {}
    for c in xeno:
        if c in checker:
            xa, xb = np.log10(conc[da]), np.log10(conc[db])
            e0 = float(np.exp(top_offset))  # Bliss on viability as a fraction of E0
            fa = surface(c, xa, xb, False, True) / e0
            fb = surface(c, xa, xb, True, False) / e0
            fab = surface(c, xa, xb, False, False) / e0
            bliss[c] = float(fa * fb - fab)
        else:
            bliss[c] = 0.0
        excess[c] = synergy_slope * bliss[c] + float(rng.normal(0, synergy_sd))
    arm_rate = {}
    mice = []
    for c in xeno:
        for arm, ds in arm_drugs.items():
            rate = r0[c] - sum(red[(c, d)] for d in ds) - (excess[c] if len(ds) == 2 else 0.0)
            arm_rate[(c, arm)] = rate
            for m in range(n_mice_per_arm):
                b = np.log(150.0) + rng.normal(0, 0.2)
                rm = rate + rng.normal(0, 0.01)
                for t in days:
                    lv = b + rm * t + rng.normal(0, volume_sd)
                    mice.append({"mouse": f"{c}-{arm}-{m + 1}", "cell_line": c, "arm": arm,
                                 "day": float(t), "volume": round(float(np.exp(lv)), 3)})
    tables["xenograft"] = pd.DataFrame(mice)
    truth = {"curves": curves, "offset": offset, "top_offset": float(top_offset), "conc": conc,
             "rmax": rmax, "control_rate": r0, "reduction": red, "bliss": bliss, "excess": excess,
             "arm_rate": arm_rate, "arm_drugs": arm_drugs, "beta": beta}
    return tables, truth


def simulate(*args, **kwargs):
    """:func:`simulate_joint` (the family's ``simulate``)."""
    return simulate_joint(*args, **kwargs)


def contract_data(seed: int = 1) -> tuple:
    """A small simulated joint study for the contract tests (3 lines, 2 drugs, checkerboards
    in two lines, a xenograft of two lines)."""
    tables, truth = simulate_joint(("A", "B", "C"), ("x", "y"), checkerboard_lines=("A", "B"),
                                   xenograft_lines=("A", "C"), n_doses=5, n_replicates=1,
                                   checker_doses=3, n_mice_per_arm=2, days=(0, 7, 14),
                                   seed=seed)
    return tables, {"blocks": {"dose_response": {"dose_unit": "uM"},
                               "combination": {"dose_unit": "uM"},
                               "xenograft": {"control_arm": "vehicle"}},
                    "arm_drugs": truth["arm_drugs"]}
