"""Convergence diagnostics (R-hat, bulk/tail ESS, divergences, BFMI) against thresholds.

Which checks apply is decided by the back-end's capabilities in the registry
(:class:`drugbayes.inference.registry.Backend`), never by its name.
"""

from __future__ import annotations

import numpy as np

from .config import DiagnosticsConfig
from .inference.convergence import rank_diagnostics
from .inference.registry import get_backend

__all__ = ["bfmi", "check", "param_diagnostics", "rank_diagnostics"]

def param_diagnostics(samples: dict[str, np.ndarray],
                      labels: dict[str, list[str]] | None = None) -> list[dict]:
    """R-hat and ESS of every scalar component of every site (constant ones skipped)."""
    rows = []
    labels = labels or {}
    for name, ary in samples.items():
        a = np.asarray(ary)
        if a.ndim < 2 or a.shape[1] < 4:
            continue
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        const = np.ptp(flat, axis=(0, 1)) == 0
        # non-finite components are skipped below; zero them so the rest stay finite
        rhat, ess_b, ess_t = rank_diagnostics(np.where(np.isfinite(flat), flat, 0.0))
        names = labels.get(name)
        for i in range(flat.shape[2]):
            if const[i] or not np.isfinite(flat[..., i]).all():
                continue
            lab = name if flat.shape[2] == 1 and a.ndim == 2 else (
                f"{name}[{names[i]}]" if names and i < len(names) else f"{name}[{i}]")
            rows.append({"parameter": lab, "r_hat": float(rhat[i]), "ess_bulk": float(ess_b[i]),
                         "ess_tail": float(ess_t[i])})
    return rows


def bfmi(energy: np.ndarray) -> np.ndarray:
    """Bayesian fraction of missing information per chain."""
    e = np.asarray(energy, np.float64)
    num = np.square(np.diff(e, axis=1)).mean(axis=1)
    den = e.var(axis=1)
    return num / np.where(den > 0, den, np.nan)


def check(method: str, samples: dict[str, np.ndarray], sample_stats: dict[str, np.ndarray],
          thresholds: DiagnosticsConfig, labels: dict[str, list[str]] | None = None,
          info: dict | None = None) -> dict:
    """Compare diagnostics with thresholds.

    The checks follow the back-end's capabilities: a point estimate has only its loss checked;
    Markov chains have R-hat (several chains) and bulk/tail ESS; divergences and BFMI where the
    back-end records them; a variational fit has its loss checked (its independent draws'
    R-hat/ESS describe the approximation, not the posterior, and are skipped).

    Every result names its ``approximation`` (from the back-end registry: MCMC, variational,
    Laplace or a point estimate, with what its intervals and probabilities mean). A Laplace
    approximation also records how its Hessian was built and the units whose Hessian block is
    not positive definite (check ``hessian_positive_definite``: their intervals are empty).

    Returns a JSON-ready dict: ``passed``, ``approximation``, ``thresholds``, ``checks`` (each
    with value, limit, passed), ``offending`` parameters, ``divergences``, ``bfmi``.
    """
    backend = get_backend(method)
    info = info or {}
    approx = backend.approximation(info)
    out: dict = {"method": method, "approximation": approx.as_dict(),
                 "thresholds": thresholds.model_dump(), "checks": {}, "offending": []}
    if backend.point_estimate:
        ok = bool(info.get("loss_finite", True))
        out["checks"]["loss_finite"] = {"value": ok, "passed": ok}
        out["note"] = (f"{method} gives a point estimate: R-hat, ESS and divergences do not "
                       "apply")
        lap = info.get("laplace")
        if lap is not None:
            out["laplace"] = lap
            if approx.draws:
                n_bad = int(lap.get("n_not_positive_definite", 0))
                out["checks"]["hessian_positive_definite"] = {
                    "value": n_bad, "limit": 0, "passed": n_bad == 0,
                    "units": lap.get("not_positive_definite", [])}
        out["passed"] = all(c["passed"] for c in out["checks"].values())
        return out
    if "extended" in info:  # nuts with num_samples unset drew more to converge
        out["draws_extended"] = info["extended"]
    chains = backend.chains
    rows = param_diagnostics(samples, labels) if chains else []
    n_chain = next(iter(samples.values())).shape[0]
    checks = out["checks"]
    if rows:
        rh = np.array([r["r_hat"] for r in rows])
        eb = np.array([r["ess_bulk"] for r in rows])
        et = np.array([r["ess_tail"] for r in rows])
        if n_chain > 1:
            checks["max_rhat"] = {"value": float(np.nanmax(rh)), "limit": thresholds.max_rhat,
                                  "passed": bool(np.nanmax(rh) <= thresholds.max_rhat)}
        checks["min_ess_bulk"] = {"value": float(np.nanmin(eb)),
                                  "limit": thresholds.min_ess_bulk,
                                  "passed": bool(np.nanmin(eb) >= thresholds.min_ess_bulk)}
        checks["min_ess_tail"] = {"value": float(np.nanmin(et)),
                                  "limit": thresholds.min_ess_tail,
                                  "passed": bool(np.nanmin(et) >= thresholds.min_ess_tail)}
        for r in rows:
            bad = []
            if n_chain > 1 and r["r_hat"] > thresholds.max_rhat:
                bad.append("r_hat")
            if r["ess_bulk"] < thresholds.min_ess_bulk:
                bad.append("ess_bulk")
            if r["ess_tail"] < thresholds.min_ess_tail:
                bad.append("ess_tail")
            if bad:
                out["offending"].append({**r, "failed": bad})
        out["offending"].sort(key=lambda r: -r["r_hat"])
        out["n_parameters"] = len(rows)
    if backend.divergences and "diverging" in sample_stats:
        nd = int(np.asarray(sample_stats["diverging"]).sum())
        out["divergences"] = nd
        checks["divergences"] = {"value": nd, "limit": thresholds.max_divergences,
                                 "passed": nd <= thresholds.max_divergences}
    if backend.energy and "energy" in sample_stats:
        b = bfmi(sample_stats["energy"])
        out["bfmi"] = [float(x) for x in b]
        checks["min_bfmi"] = {"value": float(np.nanmin(b)), "limit": thresholds.min_bfmi,
                              "passed": bool(np.nanmin(b) >= thresholds.min_bfmi)}
    if backend.variational:
        ok = bool(info.get("loss_finite", True))
        checks["loss_finite"] = {"value": ok, "passed": ok}
        out["note"] = (f"{method} draws are independent draws from the fitted guide: R-hat and "
                       "ESS describe the guide, not the posterior, and are not checked")
    out["passed"] = all(c["passed"] for c in checks.values())
    return out
