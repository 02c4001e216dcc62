"""Model arrays of the ``combination`` family: encoded table -> arrays."""

from __future__ import annotations

from functools import partial

import numpy as np

from ...data.combination import CombinationData, encode_combination, validate_combination
from ...data.encode import prepare_wells
from ...data.fields import carried_note
from .._hierarchy import CLEAR_DROP
from .model import interaction_ranges


def arrays(data: CombinationData) -> dict:
    """Numeric arrays (and sizes) the model needs, from :class:`CombinationData`."""
    n_cells_per_drug = np.bincount(data.mono_drug, minlength=len(data.drugs))
    n_cells_per_pair = np.bincount(data.combo_pair, minlength=len(data.pairs))
    ref = (np.ones(data.n_matrices) if data.matrix_e0_ref is None
           else np.asarray(data.matrix_e0_ref, np.float64))
    log_ref = np.log(ref)
    n_mat_per_combo = np.bincount(data.matrix_combo, minlength=data.n_combos)
    combo_log_ref = (np.bincount(data.matrix_combo, weights=log_ref, minlength=data.n_combos)
                     / np.maximum(n_mat_per_combo, 1))
    return {
        "n_drug": len(data.drugs), "n_pair": len(data.pairs), "n_mono": len(data.mono_drug),
        "n_combo": data.n_combos, "n_matrix": data.n_matrices,
        "mono_drug": data.mono_drug, "combo_pair": data.combo_pair,
        "combo_mono_a": data.combo_mono_a, "combo_mono_b": data.combo_mono_b,
        "matrix_combo": data.matrix_combo,
        "x_a": data.x_a, "x_b": data.x_b, "zero_a": data.zero_a, "zero_b": data.zero_b,
        "y": data.y, "mask": data.mask, "half_range": data.drug_half_range.astype(np.float32),
        "log_e0_ref": log_ref.astype(np.float32),
        "combo_log_e0_ref": combo_log_ref.astype(np.float32),
        "response_ref": np.float32(data.response_ref),
        **_shared_arrays(data),
        **_plate_arrays(data),
        **_rate_arrays(data),
        "mono_active": bool(n_cells_per_drug.max() > 1),
        "combo_active": bool(n_cells_per_pair.max() > 1),
        "matrix_active": bool(data.n_matrices > data.n_combos),
        "matrix_replicated": n_mat_per_combo[data.matrix_combo] > 1,
        **dict(zip(("beta_centered", "mono_centered"), pinned(data, np.exp(combo_log_ref)))),
        **_matrix_mono_arrays(data),
        "interaction_range": interaction_ranges(data),  # interaction = "flexible"
    }




def margin_drops(data: CombinationData, e0_ref: np.ndarray) -> np.ndarray:
    """``[combo, 2]``: how far drug a (column 0) and drug b (column 1) alone lower viability
    in each combination's checkerboard, as a fraction of its untreated level ``e0_ref``: the
    monotherapy margin (the other drug at dose 0, wells averaged over the combination's
    matrices) from the untreated wells to the mean of its two highest doses (NaN with fewer
    than two positive doses)."""
    gy = np.asarray(data.grid_y, np.float64)  # [combo, ia, ib], index 0 = dose 0
    out = np.full((data.n_combos, 2), np.nan)
    for k in range(data.n_combos):
        for j, margin in enumerate((gy[k, :, 0], gy[k, 0, :])):
            pos = margin[1:][np.isfinite(margin[1:])]
            if len(pos) >= 2:
                top = margin[0] if np.isfinite(margin[0]) else e0_ref[k]
                out[k, j] = (top - pos[-2:].mean()) / e0_ref[k]
    return out


def pinned(data: CombinationData, e0_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which members the wells pin (a data summary, no fit): ``(beta [combo], curve [mono])``
    bool, for ``parameterization = "auto"`` (centred where pinned, non-centred where not; the
    model is the same either way).

    A drug *acts* in a checkerboard when its margin falls by more than :data:`CLEAR_DROP`
    (:func:`margin_drops`). A monotherapy curve (cell line x drug) is pinned when its drug acts
    in at least one of its checkerboards: a drug that barely acts alone (trastuzumab in a
    trastuzumab-resistant line) leaves its potency and slope to the prior. A combination's
    beta is pinned when both of its drugs act: beta sets the combination's maximal effect
    relative to the stronger drug's, and the wells show it only where both drugs'
    occupancies at the high doses are known.
    """
    acts = np.nan_to_num(margin_drops(data, e0_ref), nan=0.0) > CLEAR_DROP
    curve = np.zeros(len(data.mono_drug), bool)
    np.logical_or.at(curve, np.asarray(data.combo_mono_a), acts[:, 0])
    np.logical_or.at(curve, np.asarray(data.combo_mono_b), acts[:, 1])
    return acts.all(axis=1), curve


def _rate_arrays(data: CombinationData) -> dict:
    """Growth rates: the lower bound of E1/E0, E2/E0 (:func:`rate_bottom_lower`)."""
    if not data.is_rate:
        return {}
    return {"is_rate": True, "bottom_lower": np.float32(data.bottom_lower)}


def _matrix_mono_arrays(data: CombinationData) -> dict:
    """Which matrices' drug a / drug b is a monotherapy (cell line x drug) tested in two or
    more matrices (``matrix_mono_shared``, ``[2, matrix]``), and each matrix's weight in its
    combination's mean (``1 / matrices of the combination``)."""
    mk = data.matrix_combo
    ma, mb = data.combo_mono_a[mk], data.combo_mono_b[mk]
    n = np.bincount(np.concatenate([ma, mb]), minlength=len(data.mono_drug))
    shared = np.stack([n[ma] > 1, n[mb] > 1])
    per = np.bincount(mk, minlength=data.n_combos)[mk]
    return {"matrix_mono_shared": shared, "matrix_mono_active": bool(shared.any()),
            "matrix_per_combo_weight": (1.0 / per).astype(np.float32)}


def _plate_arrays(data: CombinationData) -> dict:
    """Plates: each well's plate, and whether the design identifies a plate effect on E0 (a
    matrix with wells on two or more plates: the step between its plates is seen within one
    surface; otherwise a plate's level is its matrices' E0)."""
    if data.plates is None or data.point_plate is None:
        return {"n_plate": 1, "plate_informative": False}
    spans = [len(np.unique(data.point_plate[m][data.mask[m]])) for m in range(data.n_matrices)]
    out = {"n_plate": len(data.plates), "point_plate": data.point_plate,
           "plate_informative": bool(max(spans, default=1) > 1)}
    if data.sh_plate is not None and len(data.sh_plate):
        out["sh_plate"] = data.sh_plate
    return out


def _shared_arrays(data: CombinationData) -> dict:
    """Shared control wells that belong to several matrices (``n_shared`` may be 0)."""
    if data.sh_y is None or len(data.sh_y) == 0:
        return {"n_shared": 0}
    return {"n_shared": len(data.sh_y), "sh_mat": data.sh_mat, "sh_member": data.sh_member,
            "sh_x_a": data.sh_x_a, "sh_x_b": data.sh_x_b, "sh_zero_a": data.sh_zero_a,
            "sh_zero_b": data.sh_zero_b, "sh_y": data.sh_y}


# ------------------------------------------------------------------------ contract pieces
prepare = partial(prepare_wells, validate=validate_combination, encode=encode_combination)
"""Read, validate and encode a combination table (see ``[data]`` in the docs)."""


def describe(vt, data) -> str:
    """One line about the encoded data."""
    return (f"{data.n_wells} wells, {len(data.cell_lines)} cell lines, {len(data.pairs)} "
            f"pair(s), {len(data.experiments)} experiment(s), {data.n_combos} combinations, "
            f"{data.n_matrices} matrices ("
            + (f"growth rates in {data.rate_unit}" if data.is_rate
               else f"{data.response_scale} viability") + ")"
            + (f", {len(data.sh_y)} control wells shared by several matrices"
               if data.sh_y is not None and len(data.sh_y) else "")
            + _self_note(data)
            + carried_note(getattr(data, "carried_matrix", {}),
                           getattr(data, "carried_well", {}), "matrix"))


def _self_note(data) -> str:
    """The run log's note of the self-combinations (the built-in null check)."""
    sham = list(getattr(data, "self_combinations", []))
    if not sham:
        return ""
    return (f"; {len(sham)} self-combination(s) ({', '.join(sham[:3])}"
            + (", ..." if len(sham) > 3 else "") + "): a drug with itself, the sham experiment "
            "and built-in null check (Loewe additivity: synergy 0; see its loewe_excess and "
            "beta rows)")


def extra_sites(data) -> tuple[str, ...]:
    """Population-level sites kept from MAP/SVI draws (they are latent, so always kept)."""
    return ()


def contract_data(seed: int = 1) -> tuple:
    """A small simulated checkerboard for the contract tests (2 cell lines, 2 experiments)."""
    from .simulate import simulate

    wells, _ = simulate(2, n_doses=3, n_replicates=1, n_experiments=2, seed=seed)
    return wells, {"dose_unit": "uM", "response_scale": "fraction"}
