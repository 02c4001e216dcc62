"""``parameterization = "auto"`` of the combination family: the monotherapy curves and beta
per member centred where the wells pin them, non-centred where they do not; the same model in
other coordinates."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from numpyro import handlers
from numpyro.infer.util import log_density

import drugbayes as db
from drugbayes.api import _spec
from drugbayes.families import REGISTRY
from drugbayes.families.combination import simulate_wells

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = REPO / "configs" / "examples" / "data" / "lapatinib_trastuzumab_combination.csv"


def _screen():
    """Three cell lines: both drugs act (CL1), drug b barely acts (CL2, E2 0.97), drug a barely
    acts (CL3, E1 0.96)."""
    base = {"drug_a": "A", "drug_b": "B", "e0": 1.0, "beta": 0.3, "c1": 0.3, "c2": 0.3,
            "h1": 1.0, "h2": 1.0, "log_alpha12": 0.0, "log_alpha21": 0.0}
    truth = pd.DataFrame([{**base, "cell_line": "CL1", "e1": 0.2, "e2": 0.4},
                          {**base, "cell_line": "CL2", "e1": 0.2, "e2": 0.97},
                          {**base, "cell_line": "CL3", "e1": 0.96, "e2": 0.3}])
    doses = np.logspace(-2, 1, 4)
    wells = simulate_wells(truth, doses, doses, n_replicates=1, noise_sd=0.03, seed=3)
    _, data = db.prepare(wells, kind="combination", dose_unit="uM")
    return data


def _specs():
    spec = _spec(None, "combination")
    return {p: replace(spec, options=spec.options.model_copy(update={"parameterization": p}))
            for p in ("centered", "noncentered", "auto")}


def test_centred_where_the_drugs_act_alone():
    """The documented rule (``data.pinned``): a curve is centred where its drug alone falls by
    more than 0.2 of untreated, a beta where both drugs do. On the shipped example:
    trastuzumab's curves of HCC1954 and JIMT-1 (falls 0.10 and 0.02) and those lines' betas
    non-centred, the rest centred."""
    fam = REGISTRY["combination"]
    data = _screen()
    a = fam.arrays(data)
    cells = [data.cell_lines[c] for c in data.combo_cell]
    assert dict(zip(cells, a["beta_centered"].tolist())) == {"CL1": True, "CL2": False,
                                                             "CL3": False}
    curves = [f"{data.cell_lines[c]} {data.drugs[d]}" for c, d in zip(data.mono_cell,
                                                                       data.mono_drug)]
    assert dict(zip(curves, a["mono_centered"].tolist())) == {
        "CL1 A": True, "CL1 B": True, "CL2 A": True, "CL2 B": False, "CL3 A": False,
        "CL3 B": True}
    _, ex = db.prepare(pd.read_csv(EXAMPLE_DATA), kind="combination", dose_unit="uM",
                       columns={"cell_line": "Cell line", "drug_a": "Drug A",
                                "dose_a": "Conc A (uM)", "drug_b": "Drug B",
                                "dose_b": "Conc B (uM)", "response": "Viability (%)",
                                "replicate": "Rep", "plate": "Plate",
                                "experiment": "Experiment"}, response_scale="percent")
    b = fam.arrays(ex)
    cells = [ex.cell_lines[c] for c in ex.combo_cell]
    assert dict(zip(cells, b["beta_centered"].tolist())) == {
        "BT474": True, "SKBR3": True, "HCC1954": False, "JIMT-1": False}
    weak = {f"{ex.cell_lines[c]} {ex.drugs[d]}" for c, d, m in zip(
        ex.mono_cell, ex.mono_drug, b["mono_centered"]) if not m}
    assert weak == {"HCC1954 trastuzumab", "JIMT-1 trastuzumab"}


MEMBERS = {"grp_beta": ("pop_beta", "combo_pair", "sigma_combo_beta", "beta_centered"),
           **{f"mono_{k}": (f"mu_{k}", "mono_drug", f"sigma_mono_{k}", "mono_centered")
              for k in ("log10_c", "log_hill", "logit_bottom")}}
"""Member site: its population mean, the index into it, its scale and its mask."""


def test_auto_is_the_same_density_in_other_coordinates():
    """At a prior draw of the centred model, the "auto" model's joint density at the matching
    coordinates (``raw_<site>`` = the member where centred, ``(member - mean) / sigma`` where
    not) is the centred one plus the Jacobian, ``log sigma`` per non-centred member; its
    members (deterministic sites) are the same; and the start values built from non-centred
    coordinates are these coordinates."""
    fam = REGISTRY["combination"]
    a = fam.arrays(_screen())
    specs = _specs()

    def model(p):
        return lambda: fam.model(a, specs[p], True)

    tr = handlers.trace(handlers.seed(model("centered"), jax.random.PRNGKey(4))).get_trace()
    cen = {k: s["value"] for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
    auto = {k: v for k, v in cen.items() if k not in MEMBERS}
    nc = dict(auto)
    jac = 0.0
    for site, (mean, idx, scale, key) in MEMBERS.items():
        mask = np.asarray(a[key])
        assert mask.any() and not mask.all(), site
        val, sig = np.asarray(cen[site]), float(cen[scale])
        assert abs(np.log(sig)) > 0.05, site  # the Jacobian term is visible
        z = (val - np.asarray(cen[mean])[np.asarray(a[idx])]) / sig
        auto[f"raw_{site}"] = np.where(mask, val, z)
        nc[f"z_{site}"], nc[site] = z, val  # a non-centred fit's coordinates and members
        jac += float((~mask).sum() * np.log(sig))
    lp_c, _ = log_density(model("centered"), (), {}, cen)
    lp_a, tr_a = log_density(model("auto"), (), {}, auto)
    np.testing.assert_allclose(float(lp_a), float(lp_c) + jac, atol=2e-3)
    start = fam.init_values(nc, a, specs["auto"])
    for site in MEMBERS:
        np.testing.assert_allclose(np.asarray(tr_a[site]["value"]), np.asarray(cen[site]),
                                   atol=1e-5)
        np.testing.assert_allclose(start[f"raw_{site}"], auto[f"raw_{site}"], atol=1e-6)
        assert f"z_{site}" not in start and site not in start
