"""Generate the GR example data: cell counts with time-zero wells, as a lab exports them.

Two cell lines (a fast and a slow grower: 3 and 1.5 doublings in the assay) x two drugs, one
plate per cell line, 8 doses (1 nM - 10 uM) in 2 replicates. Each plate carries three
``time_zero`` wells (counts at the time of treatment, about 2,000 cells) and three untreated
wells at the end (``vehicle``, no drug named: they serve both drugs). True GR curves: drug
"cytotoxic" kills cells at high doses (GRinf -0.6 and -0.3), drug "cytostatic" only slows them
(GRinf 0.2 and 0.4). Counts carry log-normal noise (sd 0.05). Fixed seed: running it again
reproduces the committed files byte for byte.

Writes ``configs/examples/data/gr_counts.csv`` and ``gr_counts_truth.csv`` (the true GEC50 in
uM, h_GR and GRinf per cell line and drug).

Usage: ``python scripts/make_gr_example_data.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drugbayes.families.dose_response.simulate import simulate_wells

SEED = 20261207
OUT = Path(__file__).resolve().parents[1] / "configs" / "examples" / "data"


def main() -> None:
    rows = []
    for cl, doublings, grinf in (("FAST", 3.0, (-0.6, 0.2)), ("SLOW", 1.5, (-0.3, 0.4))):
        truth = pd.DataFrame({"cell_line": [cl, cl], "drug": ["cytotoxic", "cytostatic"],
                              "log10_ic50": [-1.0, -0.5], "hill": [1.2, 0.9],
                              "top": [1.0, 1.0], "bottom_fraction": list(grinf)})
        w = simulate_wells(truth, np.logspace(-3, 1, 8), n_replicates=2,
                           response_scale="gr_counts", noise_sd=0.05, doublings=doublings,
                           seed=SEED + len(rows))
        w["plate"] = f"P-{cl}"
        rows.append((w, truth.assign(doublings=doublings)))
    wells = pd.concat([w for w, _ in rows], ignore_index=True)
    wells["response"] = wells["response"].round(1)
    wells = wells.drop(columns=["experiment"]).rename(columns={"response": "cell_count"})
    truth = pd.concat([t for _, t in rows], ignore_index=True).rename(
        columns={"log10_ic50": "log10_gec50_uM", "hill": "h_gr", "bottom_fraction": "grinf"})
    OUT.mkdir(parents=True, exist_ok=True)
    wells.to_csv(OUT / "gr_counts.csv", index=False)
    truth.drop(columns=["top"]).to_csv(OUT / "gr_counts_truth.csv", index=False)


if __name__ == "__main__":
    main()
