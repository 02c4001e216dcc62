"""The coordinates chosen against the joint calibration's funnels are the same models in other
coordinates: the log density at matched points is the centred one plus the Jacobian.

- dose response, ``parameterization = "auto"``: log Hill deviations non-centred (IC50 and
  bottom as before: centred where the wells pin them);
- xenograft, ``"mixed"``: each mouse's level at the mean time centred, its rate deviation
  non-centred (``z_mouse_rate``);
- joint: the checkerboards' betas non-centred and the mice ``"mixed"`` by default, the
  monotherapy curves still given by the shared dose-response hierarchy.

Each test writes the expected coordinates from the documented rule, not from the model's mask,
so an inverted mask changes the Jacobian (``log sigma`` per non-centred member) and fails.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

import drugbayes as db
from drugbayes.api import _spec
from drugbayes.families import REGISTRY


def _with(spec, **options):
    return replace(spec, options=spec.options.model_copy(update=options))


def _latent(tr) -> dict:
    return {k: s["value"] for k, s in tr.items() if s["type"] == "sample"
            and not s["is_observed"]}


def _trace(model, values=None, key=0):
    m = handlers.seed(model, jax.random.PRNGKey(key))
    if values is not None:
        m = handlers.substitute(m, data=values)
    return handlers.trace(m).get_trace()


# ----------------------------------------------------------------------- dose response


def test_dose_response_auto_hill_is_noncentred_same_density():
    from drugbayes.families.dose_response import simulate_dose_response
    from drugbayes.families.dose_response.model import auto_masks

    fam = REGISTRY["dose_response"]
    wells, _ = simulate_dose_response(4, 2, n_replicates=1, seed=5)
    _, data = db.prepare(wells, kind="dose_response", dose_unit="uM")
    a = dict(fam.arrays(data))
    a["cell_centered_auto"] = True  # the same cell-line coordinates in both (not tested here)
    spec = _spec(None, "dose_response")
    specs = {p: _with(spec, parameterization=p) for p in ("centered", "auto")}

    def model(p):
        return lambda: fam.model(a, specs[p], True)

    # the documented rule: IC50 and bottom centred where informed, Hill never
    rule = {"curve_log10_ic50": np.asarray(a["informed_ic50"], bool),
            "curve_log_hill": np.zeros(a["n_group"], bool),
            "curve_logit_bottom": np.asarray(a["informed_bottom"], bool)}
    m = auto_masks(a)
    for k, key in (("curve_log10_ic50", "ic50"), ("curve_log_hill", "hill"),
                   ("curve_logit_bottom", "bottom")):
        np.testing.assert_array_equal(m[key], rule[k])
    tr = _trace(model("centered"), key=4)
    cen = _latent(tr)
    gd, gc = np.asarray(a["group_drug"]), np.asarray(a["group_cell"])
    loc = {"curve_log10_ic50": np.asarray(cen["mu_log10_ic50"])[gd]
           + np.asarray(cen["eff_cell_line"])[gc],
           "curve_log_hill": np.asarray(cen["mu_log_hill"])[gd],
           "curve_logit_bottom": np.asarray(cen["mu_logit_bottom"])[gd]}
    auto, jac = dict(cen), 0.0
    for k, mask in rule.items():
        val, sig = np.asarray(cen[f"raw_{k}"]), float(cen[f"sigma_{k}"])
        assert abs(np.log(sig)) > 0.05, k  # the Jacobian term is visible
        auto[f"raw_{k}"] = np.where(mask, val, (val - loc[k]) / sig)
        jac += float((~mask).sum() * np.log(sig))
    assert not rule["curve_log_hill"].any()
    lp_c, _ = log_density(model("centered"), (), {}, cen)
    lp_a, tr_a = log_density(model("auto"), (), {}, auto)
    np.testing.assert_allclose(float(lp_a), float(lp_c) + jac, rtol=1e-5, atol=2e-3)
    for det in ("grp_log10_ic50", "grp_log_hill", "grp_logit_bottom"):
        np.testing.assert_allclose(tr_a[det]["value"], tr[det]["value"], atol=1e-5)
    # start values from non-centred coordinates land on the same curves
    nc = {**{k: v for k, v in cen.items() if not k.startswith("raw_")},
          **{f"raw_{k}": (np.asarray(cen[f"raw_{k}"]) - loc[k]) / float(cen[f"sigma_{k}"])
             for k in rule},
          **{d: np.asarray(tr[d]["value"]) for d in ("grp_log10_ic50", "grp_log_hill",
                                                     "grp_logit_bottom")}}
    start = fam.init_values(nc, a, specs["auto"])
    for k in rule:
        np.testing.assert_allclose(start[f"raw_{k}"], auto[f"raw_{k}"], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- xenograft


def _xenograft():
    from drugbayes.families.xenograft.simulate import simulate_xenograft

    fam = REGISTRY["xenograft"]
    table, _ = simulate_xenograft(n_mice_per_arm=3, cell_lines=("BT-474R",), n_experiments=1,
                                  calipers=False, seed=3)
    _, data = db.prepare(table, kind="xenograft", control_arm="vehicle")
    a = fam.arrays(data)
    assert a["mice_informed"]
    return fam, a, _spec(None, "xenograft")


def test_xenograft_mixed_mice_same_density():
    """``"mixed"``: the density in (level, z_rate) is the centred density in (level, rate)
    times ``sd_mouse_rate`` per mouse (``rate = arm rate + sd * z``; the level's coordinate is
    unchanged); the mice's baselines and rates are the same."""
    fam, a, spec = _xenograft()
    specs = {p: _with(spec, parameterization=p) for p in ("centered", "mixed")}

    def model(p):
        return lambda: fam.model(a, specs[p], True)

    tr = _trace(model("centered"), key=2)
    cen = _latent(tr)
    me = np.asarray(cen["mouse_effect"])
    lr = np.asarray(tr["mouse_effect"]["fn"].base_dist.loc)[:, 1]  # each mouse's arm rate
    sd_r = float(cen["sd_mouse_rate_10d"])
    sd_b = float(cen["sd_mouse_baseline"])
    assert abs(np.log(sd_r) - np.log(sd_b)) > 0.1  # an inverted choice has another Jacobian
    mixed = {k: v for k, v in cen.items() if k != "mouse_effect"}
    mixed["mouse_level"] = me[:, 0]
    mixed["z_mouse_rate"] = (me[:, 1] - lr) / sd_r
    lp_c, _ = log_density(model("centered"), (), {}, cen)
    lp_m, tr_m = log_density(model("mixed"), (), {}, mixed)
    np.testing.assert_allclose(float(lp_m), float(lp_c) + len(me) * np.log(sd_r),
                               rtol=1e-5, atol=2e-3)
    for det in ("mouse_baseline", "mouse_rate"):
        np.testing.assert_allclose(tr_m[det]["value"], tr[det]["value"], rtol=1e-5,
                                   atol=1e-5)
    # "auto" stays fully centred: its mice are the (level, rate) pairs
    assert "mouse_effect" in _latent(_trace(lambda: fam.model(a, spec, True)))


def test_xenograft_mixed_start_values_from_noncentred():
    """The NUTS start of ``"mixed"`` from a non-centred MAP is the same mice."""
    fam, a, spec = _xenograft()
    nc_spec = _with(spec, parameterization="noncentered")
    tr = _trace(lambda: fam.model(a, nc_spec, True), key=7)
    noncentered = {k: np.asarray(s["value"]) for k, s in tr.items()
                   if s["type"] in ("sample", "deterministic")
                   and not s.get("is_observed", False)}
    mixed = _with(spec, parameterization="mixed")
    start = fam.init_values(noncentered, a, mixed)
    assert "z_mouse" not in start and "mouse_effect" not in start
    tr_m = _trace(lambda: fam.model(a, mixed, True), values=start, key=8)
    for det in ("mouse_baseline", "mouse_rate"):
        np.testing.assert_allclose(tr_m[det]["value"], tr[det]["value"], rtol=1e-5,
                                   atol=1e-5)


# ------------------------------------------------------------------------------- joint


@pytest.mark.slow
def test_joint_defaults_are_the_centred_model_in_other_coordinates():
    """The joint's defaults (checkerboard betas non-centred, mice ``"mixed"``) against the
    same joint model with both blocks centred: log densities differ by ``log
    sigma_combo_beta`` per beta plus ``log sd_mouse_rate`` per mouse; the checkerboards'
    monotherapy curves are the dose-response hierarchy's in both (slow: traces the joint
    model, ~1 min)."""
    from drugbayes.families.joint import simulate_joint

    fam = REGISTRY["joint"]
    # the contract study's design with five measurements per mouse (its mice are "informed")
    tables, truth = simulate_joint(("A", "B", "C"), ("x", "y"), checkerboard_lines=("A", "B"),
                                   xenograft_lines=("A", "C"), n_doses=5, n_replicates=1,
                                   checker_doses=3, n_mice_per_arm=2, days=(0, 4, 8, 12, 16),
                                   seed=1)
    opts = {"blocks": {"dose_response": {"dose_unit": "uM"},
                       "combination": {"dose_unit": "uM"},
                       "xenograft": {"control_arm": "vehicle"}},
            "arm_drugs": truth["arm_drugs"]}
    _, data = db.prepare(tables, kind="joint", **opts)
    a = fam.arrays(data)
    assert a["xenograft"]["mice_informed"]
    centred = fam.make_spec({"combination": {"parameterization": "centered"},
                             "xenograft": {"parameterization": "centered"}}, {})
    default = fam.make_spec({}, {})
    fam.check_spec(default, data)
    tr = trace_c = _trace(lambda: fam.model(a, centred, True), key=3)
    cen = _latent(tr)
    beta = np.asarray(cen["combination.grp_beta"])
    pop = np.asarray(cen["combination.pop_beta"])[np.asarray(a["combination"]["combo_pair"])]
    s_b = float(cen["combination.sigma_combo_beta"])
    me = np.asarray(cen["xenograft.mouse_effect"])
    lr = np.asarray(tr["xenograft.mouse_effect"]["fn"].base_dist.loc)[:, 1]
    s_r = float(cen["xenograft.sd_mouse_rate_10d"])
    other = {k: v for k, v in cen.items()
             if k not in ("combination.grp_beta", "xenograft.mouse_effect")}
    moved = {**other, "combination.z_grp_beta": (beta - pop) / s_b,
             "xenograft.mouse_level": me[:, 0], "xenograft.z_mouse_rate": (me[:, 1] - lr) / s_r}
    lp_c, _ = log_density(lambda: fam.model(a, centred, True), (), {}, cen)
    lp_d, tr_d = log_density(lambda: fam.model(a, default, True), (), {}, moved)
    jac = len(beta) * np.log(s_b) + len(me) * np.log(s_r)
    assert abs(len(beta) * np.log(s_b)) > 0.05 and abs(len(me) * np.log(s_r)) > 0.05
    np.testing.assert_allclose(float(lp_d), float(lp_c) + jac, rtol=1e-5, atol=5e-3)
    assert set(_latent(tr_d)) == set(moved)
    for det in ("combination.grp_beta", "combination.mono_log10_c", "combination.mono_log_hill",
                "combination.mono_logit_bottom", "xenograft.mouse_rate",
                "xenograft.mouse_baseline", "dose_response.grp_log10_ic50"):
        np.testing.assert_allclose(np.asarray(tr_d[det]["value"]),
                                   np.asarray(trace_c[det]["value"]), rtol=1e-5, atol=1e-5)
    # the checkerboards' curves are the shared hierarchy's: its own monotherapy sites are given
    assert tr_d["combination.z_mono_log10_c"]["is_observed"]
    assert not any(k.startswith(("combination.mono_", "combination.z_mono", "combination.mu_",
                                 "combination.sigma_mono")) for k in _latent(tr_d))
