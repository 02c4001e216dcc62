"""Generate the combination example: a lapatinib x trastuzumab checkerboard on HER2+ lines.

Simulated from the ``combination`` family's generative model (MuSyC on viability) with known
synergy parameters: BT474, SKBR3 and HCC1954 (lapatinib and trastuzumab synergise, most in
BT474) and JIMT-1 (trastuzumab-resistant: no synergy, beta = log alpha = 0). Each matrix is
6 x 6 (dose 0 plus 5 doses of each drug), 3 replicates, 2 independent experiments with small
experiment-to-experiment deviations of beta, log alpha and E0. JIMT-1 is tested on a higher
lapatinib range (its own grid). One well is left empty (a failed read) to show how missing
wells are dropped and listed. Viability in percent of untreated, doses in uM (trastuzumab
0.67 uM is about 100 ug/mL).

Writes ``configs/examples/data/lapatinib_trastuzumab_combination.csv``, ``..._truth.csv``
(one row per cell line: MuSyC parameters and the true Bliss/HSA/Loewe excess averaged over the
combination wells) and ``..._truth_experiments.csv`` (the same per experiment, with the
parameters each experiment's matrix was simulated with: the truth plus its deviations).
Fixed seed: running it again reproduces the committed files byte for byte.

Usage: ``python scripts/make_combination_data.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drugbayes.families.combination import simulate_wells, true_excess

SEED = 20261128
OUT = Path(__file__).resolve().parents[1] / "configs" / "examples" / "data"
NAME = "lapatinib_trastuzumab_combination"

# cell line: (lapatinib C uM, h, E1), (trastuzumab C uM, h, E2), beta, log alpha12, log alpha21
# (alpha12: lapatinib on trastuzumab's potency; alpha21: trastuzumab on lapatinib's; ln scale)
TRUTH = {
    "BT474": ((0.05, 1.2, 0.12), (0.006, 0.8, 0.55), 0.50, 1.0, 0.7),
    "SKBR3": ((0.10, 1.1, 0.15), (0.010, 0.7, 0.65), 0.35, 0.8, 0.4),
    "HCC1954": ((0.40, 1.0, 0.20), (0.050, 0.7, 0.85), 0.20, 0.5, 0.3),
    "JIMT-1": ((1.50, 0.9, 0.30), (0.100, 0.7, 0.95), 0.00, 0.0, 0.0),
}
LAPATINIB = {c: 10.0 / 4.0 ** np.arange(5)[::-1] for c in TRUTH}
LAPATINIB["JIMT-1"] = 40.0 / 4.0 ** np.arange(5)[::-1]
TRASTUZUMAB = {c: 0.67 / 4.0 ** np.arange(5)[::-1] for c in TRUTH}


def truth_table() -> pd.DataFrame:
    rows = []
    for cell, ((c1, h1, e1), (c2, h2, e2), beta, la12, la21) in TRUTH.items():
        rows.append({"cell_line": cell, "drug_a": "lapatinib", "drug_b": "trastuzumab",
                     "e0": 1.0, "e1": e1, "e2": e2, "beta": beta, "c1": c1, "c2": c2,
                     "h1": h1, "h2": h2, "log_alpha12": la12, "log_alpha21": la21})
    return pd.DataFrame(rows)


def main() -> None:
    truth = truth_table()
    wells, realised = simulate_wells(truth, LAPATINIB, TRASTUZUMAB, n_replicates=3,
                                     n_experiments=2, noise_sd=0.05, seed=SEED,
                                     return_realised=True)
    wells["plate"] = "P-" + wells["experiment"] + "-" + wells["cell_line"]
    wells["response"] = (100.0 * wells["response"]).round(2)
    wells = wells[["experiment", "plate", "cell_line", "drug_a", "dose_a", "drug_b", "dose_b",
                   "replicate", "response"]]
    wells["dose_a"] = wells["dose_a"].map(lambda v: float(f"{v:.6g}"))
    wells["dose_b"] = wells["dose_b"].map(lambda v: float(f"{v:.6g}"))
    wells = wells.astype({"response": object})
    wells.loc[40, "response"] = ""  # a failed read: dropped and listed in run.log
    wells = wells.rename(columns={
        "experiment": "Experiment", "plate": "Plate", "cell_line": "Cell line",
        "drug_a": "Drug A", "dose_a": "Conc A (uM)", "drug_b": "Drug B",
        "dose_b": "Conc B (uM)", "replicate": "Rep", "response": "Viability (%)"})
    OUT.mkdir(parents=True, exist_ok=True)
    wells.to_csv(OUT / f"{NAME}.csv", index=False)
    t = true_excess(truth, LAPATINIB, TRASTUZUMAB)
    t.round(6).to_csv(OUT / f"{NAME}_truth.csv", index=False)
    r = true_excess(realised.drop(columns="experiment"), LAPATINIB, TRASTUZUMAB)
    r.insert(0, "experiment", realised["experiment"])
    r.round(6).to_csv(OUT / f"{NAME}_truth_experiments.csv", index=False)
    print(f"wrote {OUT / (NAME + '.csv')} ({len(wells)} wells) and the truth")


if __name__ == "__main__":
    main()
