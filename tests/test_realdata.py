"""Real-data check: drugbayes pEC50s agree with CurveCurator on the sarcoma screen.

Needs ``../shared/data/dose_response_sarcoma_curvecurator`` (skipped when absent). Fits one cell
line x 10 drugs that CurveCurator calls regulated with MAP (a few seconds) and compares the
relative pEC50 with CurveCurator's ``combined`` fits, reusing the helpers of
``benchmarks/validate_curvecurator_sarcoma.py``.

Tolerances, from the full MAP run over all 2448 curves (``benchmarks/results/
curvecurator_sarcoma_map.md``): on the 1508 regulated curves the median absolute pEC50
difference is 0.023 log10 units (0.019 with the EC50 inside the tested range) and only about
1 curve in 7 differs by more than 0.1, the large differences being curves with very shallow
CurveCurator slopes (< 0.4) whose EC50 CurveCurator puts far outside the tested range. The
median of 10 such differences exceeds 0.1 only if about half of them do, which at that rate
happens with a probability well below 1 %, so 0.1 log10 units (a factor 1.26 in EC50, about
4x the full-run median and a third of the 0.3-decade spacing between tested doses... 0.48)
flags a real regression without flaking. The 10 chosen pEC50s span about 4 decades, where the
full run's Pearson r of 0.96-0.98 makes r > 0.95 a safe lower bound.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "validate_curvecurator_sarcoma.py"
DATA_DIR = (REPO / "../shared/data/dose_response_sarcoma_curvecurator").resolve()

CELL_LINE = "A204"
N_DRUGS = 10
MAX_MEDIAN_ABS_DIFF = 0.1  # log10 units (pEC50)
MIN_PEARSON = 0.95
MIN_SPEARMAN = 0.9

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA_DIR / "sarcoma_viability_long.csv").is_file()
                       or not (DATA_DIR / "curvecurator_fits_combined.csv").is_file(),
                       reason=f"real data folder {DATA_DIR} is absent"),
]


def _bench():
    spec = importlib.util.spec_from_file_location("validate_curvecurator_sarcoma", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, mod)
    spec.loader.exec_module(mod)
    return mod


def test_map_pec50_agrees_with_curvecurator():
    bench = _bench()
    ref = bench.load_reference(DATA_DIR, "combined")
    regulated = ref[(ref["cell_line"] == CELL_LINE)
                    & ref["Curve Regulation"].ne("not") & ref["Curve Regulation"].ne("")]
    drugs = sorted(np.random.default_rng(0).choice(
        sorted(regulated["drug"]), size=N_DRUGS, replace=False).tolist())

    df = bench.load_viability(DATA_DIR)
    sub = df[(df["cell_line"] == CELL_LINE) & df["drug"].isin(drugs)].reset_index(drop=True)
    assert len(sub) == N_DRUGS * 36  # 3 replicates x (DMSO + 11 doses)

    _, est, _ = bench.fit_drugbayes(sub, "map", seed=0)
    both, info = bench.join(est, ref, bench.curve_table(sub))
    assert info["failed_join"] == 0
    assert len(both) == N_DRUGS
    assert set(both["Curve Regulation"]) <= {"down", "up"}

    s = bench.stats(both)
    detail = both[["drug", "pEC50", "pEC50_db", "diff"]].round(3).to_string(index=False)
    assert s["median_abs_diff"] < MAX_MEDIAN_ABS_DIFF, detail
    assert s["pearson_r"] > MIN_PEARSON, detail
    assert s["spearman_rho"] > MIN_SPEARMAN, detail
