"""Generate the joint (cross-assay) example: the HER2 reference study in three assays.

Simulated from the ``joint`` family's generative story (:func:`drugbayes.families.joint.
simulate_joint`): lapatinib and trastuzumab dose-response curves in BT474, SKBR3, HCC1954 and
the resistant SKBR3-L and HCC1954-L (the seed's five lapatinib IC50s, the trastuzumab curves of
``lapatinib_her2_truth.csv``); lapatinib x trastuzumab checkerboards in BT474, SKBR3 and
HCC1954; a four-arm xenograft (vehicle, lapatinib, trastuzumab, both) in BT474 and the
trastuzumab-resistant SKBR3-L. The xenograft file names BT474 "BT-474" (mapped by the
config's ``[data.aliases]``). Lapatinib is dosed in uM; trastuzumab, an antibody, in ug/mL
(simulated in uM and converted with its molecular weight, about 148 kDa): the dose-response
file names each row's unit in a ``dose_unit`` column, the checkerboard file gives each drug's
doses in its declared unit (the config's ``[data.dose_units]``).

Writes ``configs/examples/data/her2_joint_{dose_response,combination,xenograft}.csv`` and
``her2_joint_truth.json``. Fixed seed: running it again reproduces the files byte for byte.

Usage: ``python scripts/make_joint_data.py``
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drugbayes.families.joint import simulate_joint

SEED = 20261207
UG_PER_ML_PER_UM = {"trastuzumab": 148.0}
"""Drugs dosed in ug/mL: ug/mL per uM (the molecular weight in kg/mol: trastuzumab ~148 kDa)."""
DOSE_UNITS = {"lapatinib": "uM", "trastuzumab": "ug/mL"}
OUT = Path(__file__).resolve().parents[1] / "configs" / "examples" / "data"
LINES = ("BT474", "SKBR3", "HCC1954", "SKBR3-L", "HCC1954-L")
# the seed's lapatinib IC50s and the trastuzumab curves (uM), lapatinib_her2_truth.csv
LOG10_IC50 = {("BT474", "lapatinib"): np.log10(0.036), ("SKBR3", "lapatinib"): np.log10(0.08),
              ("HCC1954", "lapatinib"): np.log10(0.4166),
              ("SKBR3-L", "lapatinib"): np.log10(6.5), ("HCC1954-L", "lapatinib"): np.log10(2.7),
              ("BT474", "trastuzumab"): np.log10(0.004),
              ("SKBR3", "trastuzumab"): np.log10(0.008),
              ("HCC1954", "trastuzumab"): np.log10(0.05),
              ("SKBR3-L", "trastuzumab"): np.log10(0.01),
              ("HCC1954-L", "trastuzumab"): np.log10(0.05)}
BOTTOM = {("BT474", "trastuzumab"): 0.6, ("SKBR3", "trastuzumab"): 0.7,
          ("HCC1954", "trastuzumab"): 0.95, ("SKBR3-L", "trastuzumab"): 0.85,
          ("HCC1954-L", "trastuzumab"): 0.97}


def main() -> None:
    tables, truth = simulate_joint(
        LINES, ("lapatinib", "trastuzumab"), checkerboard_lines=LINES[:3],
        xenograft_lines=("BT474", "SKBR3-L"), n_doses=8, n_replicates=2, checker_doses=4,
        n_mice_per_arm=5, seed=SEED, ic50_means={"lapatinib": -0.8, "trastuzumab": -2.0},
        conc={"lapatinib": 0.3, "trastuzumab": 0.05},
        rmax={"lapatinib": 0.12, "trastuzumab": 0.06}, log10_ic50=LOG10_IC50, bottom=BOTTOM)
    xe = tables["xenograft"]
    xe["cell_line"] = xe["cell_line"].replace({"BT474": "BT-474"})
    xe["mouse"] = xe["mouse"].str.replace("BT474", "BT-474")
    dr, cb = tables["dose_response"], tables["combination"]
    for drug, k in UG_PER_ML_PER_UM.items():
        dr.loc[dr["drug"] == drug, "dose"] *= k
        for s in ("a", "b"):
            cb.loc[cb[f"drug_{s}"] == drug, f"dose_{s}"] *= k
    dr.insert(dr.columns.get_loc("dose") + 1, "dose_unit", dr["drug"].map(DOSE_UNITS))
    curves = truth["curves"].copy()
    for drug, k in UG_PER_ML_PER_UM.items():
        curves.loc[curves["drug"] == drug, "log10_ic50"] += np.log10(k)
    conc = {d: c * UG_PER_ML_PER_UM.get(d, 1.0) for d, c in truth["conc"].items()}
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, df in tables.items():
        df.to_csv(OUT / f"her2_joint_{kind}.csv", index=False)
    out = {"dose_units": DOSE_UNITS, "curves": curves.round(6).to_dict(orient="records"),
           "assay_offset_log10_ic50": truth["offset"], "concentration": conc,
           "rmax_per_day": truth["rmax"], "control_rate_per_day": truth["control_rate"],
           "reduction_per_day": {f"{c}|{d}": v for (c, d), v in truth["reduction"].items()},
           "in_vitro_bliss": truth["bliss"], "in_vivo_bliss_excess": truth["excess"],
           "arm_rate_per_day": {f"{c}|{a}": v for (c, a), v in truth["arm_rate"].items()},
           "arm_drugs": truth["arm_drugs"], "beta": truth["beta"]}
    (OUT / "her2_joint_truth.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(tables['dose_response'])} dose-response wells, "
          f"{len(tables['combination'])} checkerboard wells, {len(xe)} xenograft rows to {OUT}")


if __name__ == "__main__":
    main()
