"""Generate the combination smoke data: DIP rates on one plate with shared controls.

Anchor drug A (cytostatic alone, E1 = 0.2 E0) with four partners on plate P1 of cell line CL1,
untreated DIP rate 0.04/h; partners P1 and P3 are net-cytotoxic alone (E2 = -0.9 E0), beta is
+0.5 for P1, P2 and -0.4 for P3, P4. Laid out as labs lay out plates: A alone and the untreated
wells are written once (``drug_b`` empty; no drug), not copied into every matrix. Doses in uM,
responses in 1/h, 2 replicates, noise sd 0.003/h. Fixed seed: running it again reproduces the
committed files byte for byte.

Writes ``configs/smoke/data/dip_shared_controls.csv`` and ``..._truth.csv``.

Usage: ``python scripts/make_combination_dip_data.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drugbayes.families.combination import simulate_wells

SEED = 20261207
OUT = Path(__file__).resolve().parents[1] / "configs" / "smoke" / "data"


def main() -> None:
    e0 = 0.04
    truth = pd.DataFrame([{
        "cell_line": "CL1", "drug_a": "A", "drug_b": f"P{i + 1}", "e0": e0, "e1": 0.2 * e0,
        "e2": -0.9 * e0 if i % 2 == 0 else 0.3 * e0, "beta": 0.5 if i < 2 else -0.4,
        "c1": 0.3, "c2": c2, "h1": 1.0, "h2": 1.2, "log_alpha12": 0.0, "log_alpha21": 0.0}
        for i, c2 in enumerate((0.2, 0.5, 0.3, 1.0))])
    doses = np.logspace(-2, 1, 5)
    w = simulate_wells(truth, doses, doses, n_replicates=2, noise_sd=0.003, seed=SEED)
    w.insert(0, "plate", "P1")
    ctrl = w[(w["dose_b"] == 0) & (w["drug_b"] == "P1")].copy()
    ctrl["drug_b"] = ""
    ctrl["dose_b"] = np.nan
    ctrl.loc[ctrl["dose_a"] == 0, ["drug_a", "dose_a"]] = ["", np.nan]
    table = pd.concat([w[w["dose_b"] > 0], ctrl], ignore_index=True)
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / "dip_shared_controls.csv", index=False)
    truth.to_csv(OUT / "dip_shared_controls_truth.csv", index=False)


if __name__ == "__main__":
    main()
