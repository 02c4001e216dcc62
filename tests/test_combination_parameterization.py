"""``parameterization = "auto"`` of the combination family: beta per combination centred where
its wells pin it, non-centred where they do not; the same model in other coordinates."""

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


def test_beta_is_centred_where_both_drugs_act_alone():
    """The documented rule (``data.beta_pinned``): centred only where each drug alone falls by
    more than 0.2 of untreated; on the shipped example, BT474 and SKBR3 centred, HCC1954 and
    JIMT-1 (trastuzumab falls by 0.10 and 0.02) non-centred."""
    fam = REGISTRY["combination"]
    data = _screen()
    mask = fam.arrays(data)["beta_centered"]
    cells = [data.cell_lines[c] for c in data.combo_cell]
    assert dict(zip(cells, mask.tolist())) == {"CL1": True, "CL2": False, "CL3": False}
    _, ex = db.prepare(pd.read_csv(EXAMPLE_DATA), kind="combination", dose_unit="uM",
                       columns={"cell_line": "Cell line", "drug_a": "Drug A",
                                "dose_a": "Conc A (uM)", "drug_b": "Drug B",
                                "dose_b": "Conc B (uM)", "response": "Viability (%)",
                                "replicate": "Rep", "plate": "Plate",
                                "experiment": "Experiment"}, response_scale="percent")
    cells = [ex.cell_lines[c] for c in ex.combo_cell]
    assert dict(zip(cells, fam.arrays(ex)["beta_centered"].tolist())) == {
        "BT474": True, "SKBR3": True, "HCC1954": False, "JIMT-1": False}


def test_auto_is_the_same_density_in_other_coordinates():
    """At a prior draw of the centred model, the "auto" model's joint density at the matching
    coordinates (``raw_grp_beta`` = beta where centred, ``(beta - pop_beta) / sigma`` where
    not) is the centred one plus the Jacobian, ``log sigma_combo_beta`` per non-centred
    member; its ``grp_beta`` is the same; and the start values built from the non-centred
    coordinates are these coordinates."""
    fam = REGISTRY["combination"]
    a = fam.arrays(_screen())
    specs = _specs()
    mask = np.asarray(a["beta_centered"])
    assert mask.any() and not mask.all()

    def model(p):
        return lambda: fam.model(a, specs[p], True)

    tr = handlers.trace(handlers.seed(model("centered"), jax.random.PRNGKey(4))).get_trace()
    cen = {k: s["value"] for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
    beta, sig = np.asarray(cen["grp_beta"]), float(cen["sigma_combo_beta"])
    loc = np.asarray(cen["pop_beta"])[np.asarray(a["combo_pair"])]
    assert abs(np.log(sig)) > 0.1  # the Jacobian term is visible
    z = (beta - loc) / sig
    auto = {k: v for k, v in cen.items() if k != "grp_beta"}
    auto["raw_grp_beta"] = np.where(mask, beta, z)
    lp_c, _ = log_density(model("centered"), (), {}, cen)
    lp_a, tr_a = log_density(model("auto"), (), {}, auto)
    n_nc = int((~mask).sum())
    np.testing.assert_allclose(float(lp_a), float(lp_c) + n_nc * np.log(sig), atol=2e-3)
    np.testing.assert_allclose(np.asarray(tr_a["grp_beta"]["value"]), beta, atol=1e-5)
    # the non-centred model at z: the same density plus log sigma for every member
    nc = {k: v for k, v in cen.items() if k not in ("grp_beta", "mono_log10_c", "mono_log_hill",
                                                    "mono_logit_bottom")}
    nc["z_grp_beta"] = z
    for s in ("mono_log10_c", "mono_log_hill", "mono_logit_bottom"):
        nc[s] = cen[s]  # init_values keeps centred curves from these (deterministic) values
    start = fam.init_values({**nc, "grp_beta": beta}, a, specs["auto"])
    np.testing.assert_allclose(start["raw_grp_beta"], auto["raw_grp_beta"], atol=1e-6)
    assert "z_grp_beta" not in start and "grp_beta" not in start
