"""Float64 surfaces of the ``combination`` family: MuSyC and the Bliss, HSA, Loewe nulls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ...curves import LN10, log_logistic, musyc_bottom_fraction, musyc_e3, musyc_viability

if TYPE_CHECKING:
    from ...data.combination import CombinationData


# ------------------------------------------------------------------- float64 numpy maths
def hill_fraction(x: ArrayLike, log10_c: ArrayLike, hill: ArrayLike,
                  bottom_fraction: ArrayLike) -> np.ndarray:
    """Monotherapy viability as a fraction of E0: ``b + (1 - b) / (1 + (d / C)^h)`` (float64).

    :func:`drugbayes.curves.log_logistic` with top 1. ``x`` and ``log10_c`` are log10 doses with
    the same origin; pass ``x = -inf`` for dose 0.
    """
    return log_logistic(np.asarray(x, np.float64), log10_c, hill, 1.0, bottom_fraction, xp=np)


def musyc_surface(x_a: ArrayLike, x_b: ArrayLike, log10_c_a: ArrayLike, log10_c_b: ArrayLike,
                  h_a: ArrayLike, h_b: ArrayLike, e0: ArrayLike, e1: ArrayLike, e2: ArrayLike,
                  e3: ArrayLike, log_alpha12: ArrayLike, log_alpha21: ArrayLike,
                  log_gamma12: ArrayLike = 0.0, log_gamma21: ArrayLike = 0.0) -> np.ndarray:
    """MuSyC viability surface in float64 (:func:`drugbayes.curves.musyc_viability`).

    ``x_a``/``x_b`` are log10 doses; ``-inf`` marks dose 0. Everything broadcasts.
    """
    x_a, x_b = np.asarray(x_a, np.float64), np.asarray(x_b, np.float64)
    zero_a, zero_b = np.isneginf(x_a), np.isneginf(x_b)
    with np.errstate(invalid="ignore", over="ignore"):
        return musyc_viability(np.where(zero_a, 0.0, x_a), np.where(zero_b, 0.0, x_b), zero_a,
                               zero_b, log10_c_a, log10_c_b, h_a, h_b, e0, e1, e2, e3,
                               log_alpha12, log_alpha21, log_gamma12, log_gamma21, xp=np)


def bliss_null(f_a: ArrayLike, f_b: ArrayLike) -> np.ndarray:
    """Bliss independence on viability: ``f_a * f_b``."""
    return np.asarray(f_a) * np.asarray(f_b)


def hsa_null(f_a: ArrayLike, f_b: ArrayLike) -> np.ndarray:
    """Highest single agent on viability: ``min(f_a, f_b)``."""
    return np.minimum(f_a, f_b)


def loewe_null(x_a: ArrayLike, x_b: ArrayLike, log10_c_a: ArrayLike, log10_c_b: ArrayLike,
               h_a: ArrayLike, h_b: ArrayLike, b_a: ArrayLike, b_b: ArrayLike,
               iterations: int = 54) -> np.ndarray:
    """Loewe additivity on viability (fraction of E0), solved by vectorised bisection (float64).

    Finds ``E`` with ``d_a / D_a(E) + d_b / D_b(E) = 1`` where ``D_i(E) = C_i ((1 - E) /
    (E - b_i))^(1 / h_i)`` inverts drug i's Hill curve ``b_i + (1 - b_i) / (1 + (d / C_i)^h_i)``.
    The left side increases with ``E`` from 0 (at ``E <= min(b_a, b_b)``) to infinity
    (``E -> 1``), so the root is unique and bracketed by ``[min(b_a, b_b), 1]``; 54 halvings
    of a bracket inside [0, 1] reach float64 resolution (2^-53).

    Policy where one drug's effect exceeds the other's maximum: a drug that cannot reach ``E``
    at any dose contributes 0 (``D_i = inf``). This is the continuous extension of the
    equation; it returns ``min(f_a, f_b)`` exactly where the stronger drug alone goes past the
    weaker drug's maximum (``Loewe(mode="delta_HSA")`` of the ``synergy`` package).
    Where a dose is 0 (``x = -inf``) the null is the other drug's curve.

    Parameters
    ----------
    x_a, x_b : array
        Log10 doses (same origin as ``log10_c_*``); ``-inf`` for dose 0.
    log10_c_a, log10_c_b, h_a, h_b, b_a, b_b : array
        Hill parameters (potency, slope, bottom as a fraction of E0, in (0, 1)).
    """
    x_a, x_b, ca, cb, ha, hb, ba, bb = np.broadcast_arrays(
        *(np.asarray(v, np.float64) for v in (x_a, x_b, log10_c_a, log10_c_b, h_a, h_b, b_a,
                                              b_b)))
    lo = np.minimum(ba, bb).copy()
    hi = np.ones_like(lo)
    la = LN10 * (x_a - ca)
    lb = LN10 * (x_b - cb)

    def term(e, l1, lx, b, h):
        t = np.exp(lx + (np.log(e - b) - l1) / h)
        return np.where(e > b, t, 0.0)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            l1 = np.log1p(-mid)  # shared by both drugs' terms
            g = term(mid, l1, la, ba, ha) + term(mid, l1, lb, bb, hb) - 1.0
            up = g > 0.0
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
    e = 0.5 * (lo + hi)
    fa = hill_fraction(x_a, ca, ha, ba)
    fb = hill_fraction(x_b, cb, hb, bb)
    za, zb = np.isneginf(x_a), np.isneginf(x_b)
    return np.where(za & zb, 1.0, np.where(za, fb, np.where(zb, fa, e)))


def loewe_index(x_a: ArrayLike, x_b: ArrayLike, e: ArrayLike, log10_c_a: ArrayLike,
                log10_c_b: ArrayLike, h_a: ArrayLike, h_b: ArrayLike, b_a: ArrayLike,
                b_b: ArrayLike) -> np.ndarray:
    """Loewe index ``d_a / D_a(E) + d_b / D_b(E)`` of the effect ``E`` (viability / E0)
    reached at doses ``(d_a, d_b)`` (float64; < 1 synergy, 1 Loewe additive, > 1 antagonism).

    ``D_i(E) = C_i ((1 - E) / (E - b_i))^(1 / h_i)`` is the dose of drug i alone that reaches
    ``E`` (:func:`loewe_null`'s inverse Hill curve); a drug that cannot reach ``E`` at any dose
    (``E <= b_i``) contributes 0, the same continuous extension as :func:`loewe_null`, so the
    index is < 1 exactly where the Loewe excess is > 0. ``+inf`` where ``E >= 1`` (the limit
    as ``E -> 1``: no dose of either drug alone is as weak as a combination that does nothing
    or raises viability, e.g. MuSyC's ``beta < -1``). ``x_*`` are log10 doses with the origin
    of ``log10_c_*``.
    """
    e = np.asarray(e, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        l1 = np.log1p(-np.minimum(e, 1.0))

        def term(x, c, h, b):
            t = np.exp(LN10 * (np.asarray(x, np.float64) - c) + (np.log(e - b) - l1) / h)
            return np.where(e > b, t, 0.0)

        li = term(x_a, log10_c_a, h_a, b_a) + term(x_b, log10_c_b, h_b, b_b)
    return np.where(e < 1.0, li, np.inf)


CI_UNDEFINED = {1: "drug_a alone never reaches 50% effect (its maximal effect)",
                2: "drug_b alone never reaches 50% effect (its maximal effect)",
                3: "neither drug alone reaches 50% effect (their maximal effects)"}
"""Why ``combination_index_50`` is undefined in a draw (its code, see
:func:`combination_index_50`)."""


def combination_index_50(q: dict[str, np.ndarray], span: float = 8.0, iterations: int = 60
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Combination index at 50% effect (Chou-Talalay's CI_50, Loewe's index) per draw.

    Each drug's dose alone that halves viability, ``D_i = C_i (0.5 / (0.5 - b_i))^(1 / h_i)``
    from its fitted Hill curve (``b_i`` its maximal effect as a fraction of E0), sets the dose
    ratio ``d_a : d_b = D_a : D_b`` (the equipotent ray, Chou-Talalay's recommended design).
    Along it, ``(t D_a, t D_b)``, the fitted MuSyC surface reaches ``E0 / 2`` at ``t*``
    (bisection in log10 t over ``[-span, span]`` decades), and ``CI_50 = t* D_a / D_a + t* D_b /
    D_b = 2 t*`` (< 1 synergy, 1 additive, > 1 antagonism). Chou-Talalay's median-effect
    equation assumes each drug can kill every cell; here each drug's own fitted maximal effect
    is used.

    Returns
    -------
    (ci, why)
        ``ci`` with NaN where undefined, and ``why``: 0 defined, else a key of
        :data:`CI_UNDEFINED` (a drug whose maximal effect leaves 50% viability or more, ``b_i
        >= 0.5``: its ``D_i`` does not exist). Where both exist but the surface stays above ``E0
        / 2`` up to ``10^span`` times the doses (e.g. MuSyC's ``E3 > E0 / 2`` with ``beta < 0``:
        strong antagonism), ``ci = +inf``, the limit of ``2 t*``.
    """
    ba, bb = q["b_a"], q["b_b"]
    ok_a, ok_b = ba < 0.5, bb < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        xa50 = q["log10_c_a"] + np.log10(0.5 / np.where(ok_a, 0.5 - ba, 1.0)) / q["h_a"]
        xb50 = q["log10_c_b"] + np.log10(0.5 / np.where(ok_b, 0.5 - bb, 1.0)) / q["h_b"]

    def above_half(u):
        v = musyc_surface(xa50 + u, xb50 + u, q["log10_c_a"], q["log10_c_b"], q["h_a"],
                          q["h_b"], q["e0"], q["e1"], q["e2"], q["e3"], q["log_alpha12"],
                          q["log_alpha21"], q["log_gamma12"], q["log_gamma21"])
        return v / q["e0"] > 0.5

    lo = np.full(xa50.shape, -span)
    hi = np.full(xa50.shape, span)
    reaches = ~above_half(hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = above_half(mid)
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    why = np.where(~ok_a & ~ok_b, 3, np.where(~ok_a, 1, np.where(~ok_b, 2, 0)))
    ci = np.where(why == 0, np.where(reaches, 2.0 * 10.0 ** (0.5 * (lo + hi)), np.inf), np.nan)
    return ci, why


# ------------------------------------------------------------------------ derived quantities
def _flat_params(data: CombinationData, draws: dict, prefix: str = "grp_"
                 ) -> dict[str, np.ndarray]:
    """Per-combination parameter draws ``(chain, draw, combo)`` as float64 natural values."""
    g = {k[len(prefix):]: np.asarray(draws[k], np.float64) for k in draws
         if k.startswith(prefix)}
    e0 = np.exp(g["log_top"])
    lower = float(getattr(data, "bottom_lower", 0.0))
    ba = musyc_bottom_fraction(g["logit_bottom_a"], lower, np)
    bb = musyc_bottom_fraction(g["logit_bottom_b"], lower, np)
    e1, e2 = e0 * ba, e0 * bb
    e3 = musyc_e3(e0, e1, e2, g["beta"], np)
    return {"e0": e0, "e1": e1, "e2": e2, "e3": e3, "b_a": ba, "b_b": bb,
            "log10_c_a": g["log10_c_a"], "log10_c_b": g["log10_c_b"],
            "h_a": np.exp(g["log_hill_a"]), "h_b": np.exp(g["log_hill_b"]), "beta": g["beta"],
            "log_alpha12": g["log_alpha12"], "log_alpha21": g["log_alpha21"],
            "log_gamma12": g.get("log_gamma12", np.zeros_like(e0)),
            "log_gamma21": g.get("log_gamma21", np.zeros_like(e0))}


_SURFACES_CACHE: list = []


def surfaces(data: CombinationData, draws: dict, keep: bool = False,
             combos: ArrayLike | None = None) -> dict[str, np.ndarray]:
    """Per-well posterior surfaces on each combination's dose grid, float64 (see
    :func:`_surfaces`).

    ``combos`` (indices into the combinations) restricts the computation to those
    combinations, in that order: axis 2 of every array is then ``combos``, with the values of
    the full computation (the plots draw at most ``report.max_unit_plots`` combinations and need
    no others). Such a call neither takes nor keeps a cached result.

    The DataTree (:func:`observed`, ``keep=True``) and then the summary (:func:`derived`)
    need them for the same draws: a call for the same ``data`` and draw arrays (compared by
    identity) as a kept result takes it instead of recomputing (the Loewe bisection dominates
    the post-processing of a large screen). A kept result serves one reuse only and only
    the latest is kept, so a screen's surfaces are not held after both consumers have them.
    """
    if combos is not None:
        return _surfaces(data, draws, np.asarray(combos, dtype=np.intp))
    keys = sorted(k for k in draws if k.startswith("grp_") or k == "interaction_coef")
    arrays = [draws[k] for k in keys]
    for i, (d, arr, out) in enumerate(_SURFACES_CACHE):
        if d is data and len(arr) == len(arrays) and all(a is b for a, b in zip(arr, arrays)):
            del _SURFACES_CACHE[i]
            return out
    out = _surfaces(data, draws)
    _SURFACES_CACHE[:] = [(data, arrays, out)] if keep else []
    return out


def _surfaces(data: CombinationData, draws: dict, combos: np.ndarray | None = None
              ) -> dict[str, np.ndarray]:
    """Per-well posterior surfaces on each combination's dose grid, float64.

    Returns arrays ``(chain, draw, combo, dose_a_index, dose_b_index)``: ``viability`` (fitted
    MuSyC surface, plus the flexible interaction where the draws have it, E0 included), the
    nulls ``bliss``, ``hsa``, ``loewe`` (viability / E0) and the excesses ``*_excess = null -
    viability / E0`` and ``*_excess_observed = null - observed mean / E0`` (NaN where the dose
    pair was not tested), and the model-based ZIP
    delta ``zip_delta = f_a f_b - viability / E0`` (0 where a dose is 0; see
    :func:`derived`). Positive = synergy. Every null and excess is on the response normalised
    by the fitted E0 of its combination, so rescaling the data changes none of them.
    ``combos`` (indices) computes the combinations listed only (axis 2 follows it).
    """
    q = _flat_params(data, draws)
    dose_a, dose_b = data.grid_dose_a, data.grid_dose_b
    grid_xa, grid_xb = data.grid_x("a"), data.grid_x("b")
    grid_y, tested = data.grid_y, data.grid_tested
    if combos is not None:
        q = {k: v[..., combos] for k, v in q.items()}
        dose_a, dose_b, grid_xa, grid_xb = (a[combos] for a in (dose_a, dose_b, grid_xa,
                                                                 grid_xb))
        grid_y, tested = grid_y[combos], tested[combos]
    xa = np.where(dose_a > 0, grid_xa, -np.inf)  # [K, ia]
    xb = np.where(dose_b > 0, grid_xb, -np.inf)
    xa = np.where(np.isnan(dose_a), -np.inf, xa)
    xb = np.where(np.isnan(dose_b), -np.inf, xb)
    A = xa[None, None, :, :, None]
    B = xb[None, None, :, None, :]

    def par(k):
        return q[k][..., None, None]

    v = musyc_surface(A, B, par("log10_c_a"), par("log10_c_b"), par("h_a"), par("h_b"),
                      par("e0"), par("e1"), par("e2"), par("e3"), par("log_alpha12"),
                      par("log_alpha21"), par("log_gamma12"), par("log_gamma21"))
    if "interaction_coef" in draws:  # interaction = "flexible": E0 * g on top of MuSyC
        v = v + par("e0") * _interaction_grid(data, draws, xa, xb, combos)
    fa = np.where(np.isneginf(A), 1.0, hill_fraction(A, par("log10_c_a"), par("h_a"),
                                                      par("b_a")))
    fb = np.where(np.isneginf(B), 1.0, hill_fraction(B, par("log10_c_b"), par("h_b"),
                                                      par("b_b")))
    # Loewe by bisection only where both doses are > 0 (index 0 of each grid is dose 0, where
    # the null is the other drug's curve)
    inner = loewe_null(A[..., 1:, :], B[..., :, 1:], par("log10_c_a"), par("log10_c_b"),
                       par("h_a"), par("h_b"), par("b_a"), par("b_b"))
    loewe = np.empty(v.shape)
    loewe[..., 0, :] = np.broadcast_to(fb, v.shape)[..., 0, :]
    loewe[..., :, 0] = np.broadcast_to(fa, v.shape)[..., :, 0]
    loewe[..., 1:, 1:] = inner
    nulls = {"bliss": bliss_null(fa, fb), "hsa": hsa_null(fa, fb), "loewe": loewe}
    if data.is_rate:
        # Bliss independence multiplies probabilities (viability fractions in [0, 1]); a
        # growth rate relative to E0 can be negative, so Bliss (and ZIP, built on it) is
        # not defined: HSA, Loewe and MuSyC's beta and alpha are
        del nulls["bliss"]
    valid = ~(np.isnan(dose_a)[:, :, None] | np.isnan(dose_b)[:, None, :])
    out = {"viability": np.where(valid, v, np.nan)}
    # model-based ZIP: the fitted surface in place of ZIP's row/column refits, normalised by
    # the fitted E0 like every other excess; 0 where a dose is 0
    vn = v / par("e0")
    margin = np.isneginf(A) | np.isneginf(B)
    if not data.is_rate:
        out["zip_delta"] = np.where(valid, np.where(margin, 0.0, fa * fb - vn), np.nan)
    inner_li = loewe_index(A[..., 1:, :], B[..., :, 1:], vn[..., 1:, 1:], par("log10_c_a"),
                           par("log10_c_b"), par("h_a"), par("h_b"), par("b_a"), par("b_b"))
    li = np.full(v.shape, np.nan)
    li[..., 1:, 1:] = inner_li
    out["loewe_index"] = np.where(valid & ~margin, li, np.nan)
    yn = grid_y[None, None] / par("e0")
    for k, n in nulls.items():
        out[k] = np.where(valid, n, np.nan)
        out[f"{k}_excess"] = np.where(valid, n - vn, np.nan)
        out[f"{k}_excess_observed"] = np.where(tested, n - yn, np.nan)
    return out


def _interaction_grid(data: CombinationData, draws: dict, xa: np.ndarray, xb: np.ndarray,
                      combos: np.ndarray | None) -> np.ndarray:
    """The flexible interaction ``g`` (fraction of E0) of each combination on its dose grid,
    ``(chain, draw, combo, dose_a_index, dose_b_index)``; ``xa``/``xb`` the grids' centred log10
    doses with ``-inf`` at dose 0 (and padding), ``combos`` as in :func:`_surfaces`."""
    from .model import interaction_basis, interaction_ranges

    coef = np.asarray(draws["interaction_coef"], np.float64)  # (chain, draw, combo, basis)
    rng = interaction_ranges(data).astype(np.float64)
    if combos is not None:
        coef, rng = coef[..., combos, :], rng[combos]
    knots = int(round(np.sqrt(coef.shape[-1])))
    za, zb = np.isneginf(xa), np.isneginf(xb)
    A = np.broadcast_to(np.where(za, 0.0, xa)[:, :, None], za.shape + (xb.shape[1],))
    B = np.broadcast_to(np.where(zb, 0.0, xb)[:, None, :], A.shape)
    ZA = np.broadcast_to(za[:, :, None], A.shape)
    ZB = np.broadcast_to(zb[:, None, :], A.shape)
    basis = interaction_basis(A, B, ZA, ZB, rng[:, None, None, :], knots, np)  # [K, ia, ib, nb]
    return np.einsum("...kb,kijb->...kij", coef, basis)


def block_view(data: CombinationData, draws: dict, idx: ArrayLike
               ) -> tuple[CombinationData, dict[str, np.ndarray]]:
    """Blocks (matrices) ``idx`` as if each were a combination of its own.

    Returns a copy of ``data`` whose combinations are the blocks (their combination's cell
    line, pair and dose grid; the block's own observed means ``matrix_grid_*``), and draws
    whose ``grp_*`` sites (and the flexible ``interaction_coef``) are per block: the
    combination's monotherapy curves (the block's own,
    ``mat_log10_c_*`` and ``mat_logit_bottom_*``, where the model has them) and the model's
    matrix-level ``mat_beta``, ``mat_log_alpha*`` and ``mat_log_top``. :func:`surfaces` and the
    derived quantities then give each block's posterior excesses.
    """
    import dataclasses

    idx = np.asarray(idx, dtype=np.intp)
    k = np.asarray(data.matrix_combo)[idx]
    if data.matrix_grid_y is None or data.matrix_grid_tested is None:
        raise ValueError("the data have no per-matrix grids (encode_combination makes them)")
    bd = dataclasses.replace(
        data, combo_cell=data.combo_cell[k], combo_pair=data.combo_pair[k],
        combo_mono_a=data.combo_mono_a[k], combo_mono_b=data.combo_mono_b[k],
        matrix_combo=np.arange(len(idx), dtype=np.int32), matrix_exp=data.matrix_exp[idx],
        grid_dose_a=data.grid_dose_a[k], grid_dose_b=data.grid_dose_b[k],
        grid_tested=data.matrix_grid_tested[idx], grid_y=data.matrix_grid_y[idx],
        grid_n=data.matrix_grid_tested[idx].astype(np.int32),
        matrix_grid_tested=data.matrix_grid_tested[idx],
        matrix_grid_y=data.matrix_grid_y[idx])
    bdr = {key: np.asarray(v)[..., k] for key, v in draws.items() if key.startswith("grp_")}
    if "interaction_coef" in draws:  # the flexible interaction is the combination's
        bdr["interaction_coef"] = np.asarray(draws["interaction_coef"])[..., k, :]
    for g, m in (("grp_beta", "mat_beta"), ("grp_log_alpha12", "mat_log_alpha12"),
                 ("grp_log_alpha21", "mat_log_alpha21"), ("grp_log_top", "mat_log_top"),
                 ("grp_log10_c_a", "mat_log10_c_a"), ("grp_log10_c_b", "mat_log10_c_b"),
                 ("grp_logit_bottom_a", "mat_logit_bottom_a"),
                 ("grp_logit_bottom_b", "mat_logit_bottom_b")):
        if m in draws:  # the matrix-level monotherapy curves exist with that option only
            bdr[g] = np.asarray(draws[m])[..., idx]
    return bd, bdr


def combination_wells(data: CombinationData) -> np.ndarray:
    """``[combo, ia, ib]`` mask of the tested wells with both doses > 0."""
    pos = (data.grid_dose_a > 0)[:, :, None] & (data.grid_dose_b > 0)[:, None, :]
    return data.grid_tested & pos
