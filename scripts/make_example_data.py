"""Generate the main example: an MTS assay of lapatinib and trastuzumab on HER2+ lines.

Modelled on the reference study (lapatinib overcoming trastuzumab resistance): BT474, SKBR3,
HCC1954 and the lapatinib-resistant derivatives SKBR3-L and HCC1954-L, 72 h MTS, absorbance at
490 nm. Two experiments, one 96-well plate per cell line and experiment holding both drugs
(9 doses x 3 replicates each), 6 vehicle wells (cells, no drug) and 6 blank wells (medium only).
Dose ranges differ across cell lines and experiments (mixed grids). One well is left empty
(a failed read) to show how missing wells are dropped and listed.

Writes ``configs/examples/data/lapatinib_her2_mts.csv`` and ``..._truth.csv``. Fixed seed:
running it again reproduces the committed files byte for byte.

Usage: ``python scripts/make_example_data.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drugbayes.simulate import viability

SEED = 20261127
OUT = Path(__file__).resolve().parents[1] / "configs" / "examples" / "data"

# true relative IC50s (uM), Hill slopes, bottoms (fraction of untreated), tops
LAPATINIB = {
    "BT474": (0.036, 1.2, 0.08), "SKBR3": (0.080, 1.1, 0.10), "HCC1954": (0.4166, 1.0, 0.12),
    "SKBR3-L": (6.5, 1.1, 0.05), "HCC1954-L": (2.7, 0.9, 0.10),
}
# trastuzumab in a 72 h viability assay: shallow, partial or flat curves (doses in uM;
# 0.67 uM is about 100 ug/mL)
TRASTUZUMAB = {
    "BT474": (0.004, 0.8, 0.60), "SKBR3": (0.008, 0.7, 0.70), "HCC1954": (0.05, 0.6, 0.95),
    "SKBR3-L": (0.01, 0.7, 0.85), "HCC1954-L": (0.05, 0.6, 0.97),
}
EXPERIMENT_SHIFT = {"EXP1": 0.04, "EXP2": -0.04}  # log10 IC50 shift per experiment


def dose_grid(top: float, fold: float, n: int = 9) -> np.ndarray:
    return top / fold ** np.arange(n)[::-1]


def doses_for(drug: str, cell: str, exp: str) -> np.ndarray:
    if drug == "lapatinib":
        top = 30.0 if cell.endswith("-L") else 10.0
        return dose_grid(top, 3.0 if exp == "EXP1" else np.sqrt(10.0))
    return dose_grid(0.67, 3.0)


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    for exp in ("EXP1", "EXP2"):
        for cell in LAPATINIB:
            plate = f"{exp}-{cell}"
            bg = 0.08 * np.exp(rng.normal(0, 0.1))
            untreated = 1.25 * np.exp(rng.normal(0, 0.1))
            k = 0

            def add(role, drug, dose, rep, signal, cell=cell, plate=plate, exp=exp):
                nonlocal k
                rows.append({"Experiment": exp, "Plate": plate, "Well": wells[k], "Role": role,
                             "Cell line": cell if role != "blank" else "", "Compound": drug,
                             "Conc (uM)": dose, "Rep": rep,
                             "A490": round(float(signal + rng.normal(0, 0.03)), 4)})
                k += 1

            for rep in range(1, 7):
                add("blank", "", "", rep, bg)
            for rep in range(1, 7):
                add("vehicle", "", 0.0, rep, bg + untreated)
            for drug, table in (("lapatinib", LAPATINIB), ("trastuzumab", TRASTUZUMAB)):
                ic50, hill, bottom = table[cell]
                d = doses_for(drug, cell, exp)
                v = viability(d, np.log10(ic50) + EXPERIMENT_SHIFT[exp], hill, 1.0, bottom)
                for rep in range(1, 4):
                    for dd, vv in zip(d, v):
                        add("sample", drug, float(f"{dd:.6g}"), rep, bg + untreated * vv)
    df = pd.DataFrame(rows)
    # one failed read: an empty absorbance cell (dropped and listed by missing = "drop")
    df.loc[(df["Plate"] == "EXP2-SKBR3") & (df["Well"] == "E7"), "A490"] = np.nan
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / "lapatinib_her2_mts.csv", index=False)
    truth = [{"cell_line": c, "drug": drug, "ic50_uM": t[0], "log10_ic50_uM": np.log10(t[0]),
              "hill": t[1], "bottom": t[2], "top": 1.0}
             for drug, table in (("lapatinib", LAPATINIB), ("trastuzumab", TRASTUZUMAB))
             for c, t in table.items()]
    pd.DataFrame(truth).to_csv(OUT / "lapatinib_her2_truth.csv", index=False)
    print(f"wrote {OUT / 'lapatinib_her2_mts.csv'} ({len(df)} wells)")
    make_smoke_data()
    make_xenograft_data()
    make_xenograft_regression_data()
    make_pdx_trial_data()


def make_smoke_data() -> None:
    """Small normalised (percent) table for configs/smoke/: 3 cell lines x 2 drugs, nM doses,
    a different dose grid per drug, no replicate column (repeated doses = technical replicates)."""
    from drugbayes.simulate import simulate_dose_response

    wells, truth = simulate_dose_response(3, 2, doses=np.logspace(0, 4, 8), dose_unit="nM",
                                          n_replicates=2, response_scale="percent", seed=7)
    wells = wells.drop(columns=["replicate", "plate"])
    smoke = OUT.parents[1] / "smoke" / "data"
    smoke.mkdir(parents=True, exist_ok=True)
    wells.round(5).to_csv(smoke / "percent_nM.csv", index=False)
    truth.round(6).to_csv(smoke / "percent_nM_truth.csv", index=False)
    print(f"wrote {smoke / 'percent_nM.csv'} ({len(wells)} wells)")


def make_xenograft_data() -> None:
    """The reference xenograft study: trastuzumab-resistant HER2+ tumours (BT-474R,
    MCF7/HER2-18) in nude mice randomised at about 150-200 mm3 into vehicle, lapatinib,
    trastuzumab and both; 10 mice per arm over two experiments; calipers twice weekly for
    5 weeks (length and width, 0.1 mm); culled at 1,500 mm3 (``status = culled``). Column
    names as a lab sheet has them (mapped in the config). Truth: the arms' growth rates."""
    from drugbayes.simulate import simulate_xenograft

    table, truth = simulate_xenograft(10, n_experiments=2, seed=SEED)
    table = table.rename(columns={"mouse": "Mouse ID", "cell_line": "Model", "arm": "Group",
                                  "experiment": "Study", "day": "Day", "length": "Length (mm)",
                                  "width": "Width (mm)", "status": "Status"})
    table.to_csv(OUT / "her2_xenograft_calipers.csv", index=False)
    truth.to_csv(OUT / "her2_xenograft_truth.csv", index=False)
    print(f"wrote {OUT / 'her2_xenograft_calipers.csv'} ({len(table)} measurements)")


def make_xenograft_regression_data() -> None:
    """The reference study with regression and regrowth: the same lines and arms, 10 mice per
    arm over two experiments, calipers twice weekly for about 8.5 weeks (treatment and
    follow-up). Lapatinib regresses then regrows (a few mice cured), the combination regresses
    completely in most mice; undetectable tumours are recorded as 0 x 0 mm. Truth: per arm
    the sensitive fraction, regression and regrowth rates and the cure fraction."""
    from drugbayes.simulate import REGRESSION_DAYS, simulate_xenograft

    table, truth = simulate_xenograft(10, n_experiments=2, days=REGRESSION_DAYS,
                                      growth="regrowth", seed=SEED)
    table.to_csv(OUT / "her2_xenograft_regression.csv", index=False)
    truth.to_csv(OUT / "her2_xenograft_regression_truth.csv", index=False)
    print(f"wrote {OUT / 'her2_xenograft_regression.csv'} ({len(table)} measurements)")


if __name__ == "__main__":
    main()


def make_pdx_trial_data() -> None:
    """A simulated PDX clinical trial: 40 lines x (untreated, drugA, drugB, drugA+drugB), one
    mouse each, staggered days, culling; body weight and tissue columns (carried)."""
    from drugbayes.families.xenograft.simulate import simulate_pdx_trial

    table, truth = simulate_pdx_trial(40, extra_columns=True, seed=SEED)
    table = table.rename(columns={"body_weight": "body.weight"})
    table.to_csv(OUT / "pdx_trial.csv", index=False)
    truth.to_csv(OUT / "pdx_trial_truth.csv", index=False)
    print(f"wrote {OUT / 'pdx_trial.csv'} ({len(table)} measurements)")
