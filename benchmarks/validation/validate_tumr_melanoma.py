"""Real xenograft data (tumr, University of Iowa) against the published fits.

1. ``melanoma2.csv`` (451LuBR, 47 mice, 5 arms, days 0-106) with the preset that mirrors the
   published Stan model (``xenograft/tumr_log1p_linear``: linear growth on log1p(volume),
   correlated per-mouse intercept and slope around independent arm means): our arm slopes
   against the published posterior 90% intervals, and all ten slope differences (sign and
   size).
2. ``melanoma1.csv`` (A375, 35 mice, 2x2 factorial, 217 zero volumes, culled controls) with the
   default preset (``xenograft/exponential``, zeros left-censored): growth rates, T/C, TGI and
   the in-vivo Bliss/HSA contrast, diagnostics.

Reads ``../shared/data/xenograft_tumr/`` (never copied into the repository). Writes
``benchmarks/results/validation/tumr_melanoma.{json,md}``.

Usage: ``python -m benchmarks.validation.validate_tumr_melanoma [--draws 1000]``
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import jax
import numpy as np
import pandas as pd

import drugbayes as db
from benchmarks._common import SHARED_DATA, results_dir, utc_timestamp, write_result

DATA = SHARED_DATA / "xenograft_tumr"
OUT = results_dir("validation")
COLUMNS = {"mouse": "ID", "day": "Day", "volume": "Volume", "arm": "Treatment"}


def melanoma2(draws: int, seed: int = 0) -> dict:
    pub = pd.read_csv(DATA / "published_fits_melanoma2.csv")
    pub = pub[pub["method"] == "bhm_stan"]
    t0 = time.perf_counter()
    r = db.fit(DATA / "melanoma2.csv", "xenograft", columns=COLUMNS, control_arm="A",
               model="xenograft/tumr_log1p_linear", seed=seed, interval_prob=0.90,
               inference={"method": "nuts", "num_chains": 4, "num_warmup": draws,
                          "num_samples": draws})
    wall = time.perf_counter() - t0
    rate = np.asarray(r.inference.samples["grp_rate"], np.float64)
    rate = rate.reshape(-1, rate.shape[-1])
    arms = [r.data.arms[a] for a in r.data.group_arm]
    slopes = []
    for j, arm in enumerate(arms):
        p = pub[(pub["quantity"] == "group_slope") & (pub["term"] == arm)].iloc[0]
        lo, med, hi = np.quantile(rate[:, j], [0.05, 0.5, 0.95])
        slopes.append({"arm": arm, "ours_mean": float(rate[:, j].mean()), "ours_median": med,
                       "ours_5": lo, "ours_95": hi, "published_mean": float(p["estimate"]),
                       "published_5": float(p["lower"]), "published_95": float(p["upper"]),
                       "inside_published_90": bool(p["lower"] <= rate[:, j].mean()
                                                   <= p["upper"])})
    diffs = []
    for a, b in itertools.combinations(sorted(arms), 2):
        p = pub[(pub["quantity"] == "slope_difference") & (pub["term"] == f"{a} - {b}")].iloc[0]
        d = rate[:, arms.index(a)] - rate[:, arms.index(b)]
        lo, hi = np.quantile(d, [0.05, 0.95])
        diffs.append({"difference": f"{a} - {b}", "ours_mean": float(d.mean()), "ours_5": lo,
                      "ours_95": hi, "published_mean": float(p["estimate"]),
                      "published_5": float(p["lower"]), "published_95": float(p["upper"]),
                      "same_sign": bool(np.sign(d.mean()) == np.sign(p["estimate"])),
                      "abs_diff": abs(float(d.mean()) - float(p["estimate"]))})
    d = r.diagnostics
    return {"wall_seconds": wall, "slopes": slopes, "differences": diffs,
            "diagnostics": {k: v["value"] for k, v in d["checks"].items()},
            "passed": d["passed"], "n_mice": r.data.n_mice}


def melanoma1(draws: int, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    r = db.fit(DATA / "melanoma1.csv", "xenograft", columns=COLUMNS, control_arm="A",
               seed=seed, contrasts=[{"combination": "D", "a": "B", "b": "C"}],
               inference={"method": "nuts", "num_chains": 4, "num_warmup": draws,
                          "num_samples": draws})
    wall = time.perf_counter() - t0
    s = r.summary()
    keep = s[s["quantity"].isin(["growth_rate", "growth_rate_difference", "tc_ratio", "tgi",
                                 "bliss_excess", "p_synergy_bliss", "hsa_excess",
                                 "p_synergy_hsa"])]
    d = r.diagnostics
    return {"wall_seconds": wall, "tc_day": r.data.tc_day,
            "detection_limit": r.data.detection_limit,
            "n_censored": int((r.data.censored & r.data.mask).sum()),
            "summary": keep[["arm", "quantity", "unit", "mean", "median", "lower", "upper",
                             "censored"]].to_dict("records"),
            "diagnostics": {k: v["value"] for k, v in d["checks"].items()},
            "passed": d["passed"]}


def _md(res: dict) -> str:
    m2, m1 = res["melanoma2"], res["melanoma1"]
    lines = [f"# tumr melanoma xenografts vs published fits ({res['timestamp']})", "",
             f"Device: {res['device']}; jax {res['jax']}, numpyro {res['numpyro']}; "
             f"{res['draws']} warmup + {res['draws']} draws x 4 chains (NUTS).", "",
             "## melanoma2: preset `xenograft/tumr_log1p_linear` vs the published Stan model",
             "", f"Wall time {m2['wall_seconds']:.1f} s; diagnostics "
             f"{'passed' if m2['passed'] else 'FAILED'}: "
             + ", ".join(f"{k}={v:.4g}" for k, v in m2["diagnostics"].items()), "",
             "| arm | ours mean [5%, 95%] | published mean [5%, 95%] | ours inside published |",
             "|---|---|---|---|"]
    for x in m2["slopes"]:
        lines.append(f"| {x['arm']} | {x['ours_mean']:.4f} [{x['ours_5']:.4f}, "
                     f"{x['ours_95']:.4f}] | {x['published_mean']:.4f} [{x['published_5']:.4f},"
                     f" {x['published_95']:.4f}] | {'yes' if x['inside_published_90'] else 'NO'}"
                     " |")
    lines += ["", "| slope difference | ours mean [5%, 95%] | published mean [5%, 95%] | "
              "same sign | abs. difference of means |", "|---|---|---|---|---|"]
    for x in m2["differences"]:
        lines.append(f"| {x['difference']} | {x['ours_mean']:.4f} [{x['ours_5']:.4f}, "
                     f"{x['ours_95']:.4f}] | {x['published_mean']:.4f} [{x['published_5']:.4f},"
                     f" {x['published_95']:.4f}] | {'yes' if x['same_sign'] else 'NO'} | "
                     f"{x['abs_diff']:.4f} |")
    lines += ["", "## melanoma1: default preset `xenograft/exponential` (zeros left-censored)",
              "", f"Wall time {m1['wall_seconds']:.1f} s; {m1['n_censored']} measurements at or "
              f"below the detection limit {m1['detection_limit']:.3g} mm3; T/C day "
              f"{m1['tc_day']:g}; diagnostics {'passed' if m1['passed'] else 'FAILED'}: "
              + ", ".join(f"{k}={v:.4g}" for k, v in m1["diagnostics"].items()), "",
              "| arm | quantity | unit | median | 95% interval | censored |",
              "|---|---|---|---|---|---|"]
    for x in m1["summary"]:
        iv = ("" if not np.isfinite(x["lower"]) and not np.isfinite(x["upper"])
              else f"[{x['lower']:.4g}, {x['upper']:.4g}]")
        med = x["median"] if np.isfinite(x["median"]) else x["mean"]
        lines.append(f"| {x['arm']} | {x['quantity']} | {x['unit']} | {med:.4g} | {iv} | "
                     f"{x['censored']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args(argv)
    from importlib.metadata import version

    res = {"timestamp": utc_timestamp(),
           "device": str(jax.devices()[0]), "platform": platform.platform(),
           "jax": version("jax"), "numpyro": version("numpyro"), "draws": args.draws,
           "melanoma2": melanoma2(args.draws), "melanoma1": melanoma1(args.draws)}
    write_result(OUT / "tumr_melanoma", res, _md(res))
    print(_md(res))


if __name__ == "__main__":
    main()
