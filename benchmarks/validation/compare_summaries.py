"""Two runs' ``summary.csv`` means, compared in Monte Carlo standard errors.

For two fits of one model on one table (e.g. the same model in other coordinates, or two
seeds), each shared quantity's difference of means divided by
``sqrt(sd_1**2 / ess_bulk_1 + sd_2**2 / ess_bulk_2)``; probabilities, alpha (not log alpha),
potencies on the dose scale, observed excesses and the classic indices are left out. Prints
the count of ``|z| > 2`` and ``> 3``, the largest difference in posterior sds, and the main
combination parameters of the pooled rows (``experiment == "all"``).

Usage: ``python -m benchmarks.validation.compare_summaries RUN_DIR_1 RUN_DIR_2``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

KEY = ["cell_line", "drug_a", "drug_b", "experiment", "quantity"]
MAIN = ["beta", "log_alpha12", "log_alpha21", "e0", "e1", "e2", "e3", "bliss_excess",
        "loewe_excess"]


def compare(first: str, second: str) -> pd.DataFrame:
    """The shared quantities of two run directories with ``z`` and ``d_in_sd``."""
    b, a = (pd.read_csv(f"{d}/summary.csv") for d in (first, second))
    m = b.merge(a, on=KEY, suffixes=("_b", "_a"))
    q = m["quantity"]
    m = m[m["mean_b"].notna() & m["sd_b"].gt(0) & ~q.str.startswith(("p_", "alpha", "c1", "c2"))
          & ~q.str.endswith("_observed")
          & ~q.isin(["zip_delta_classic", "loewe_index", "combination_index_50"])].copy()
    mcse = np.sqrt(m["sd_b"] ** 2 / m["ess_bulk_b"] + m["sd_a"] ** 2 / m["ess_bulk_a"])
    m["z"] = (m["mean_a"] - m["mean_b"]) / mcse
    m["d_in_sd"] = (m["mean_a"] - m["mean_b"]) / m["sd_b"]
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", help="run directory (its summary.csv), e.g. before")
    ap.add_argument("second", help="run directory, e.g. after")
    args = ap.parse_args(argv)
    m = compare(args.first, args.second)
    z = m["z"].abs()
    print(f"{len(m)} quantities; |z| > 2: {(z > 2).sum()}, > 3: {(z > 3).sum()}; max |z| "
          f"{z.max():.2f}; max |difference| / posterior sd {m['d_in_sd'].abs().max():.3f}")
    main_rows = m[m["experiment"].eq("all") & m["quantity"].isin(MAIN)]
    cols = ["cell_line", "quantity", "mean_b", "mean_a", "sd_b", "sd_a", "z"]
    print(main_rows[cols].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
