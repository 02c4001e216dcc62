"""Labelled posterior of the ``joint`` family: each block's sites and dims, namespaced.

Sites are ``<block>.<site>`` (``dose_response.sigma``, ``combination.sigma``) and ``link.*``;
a block's dimension keeps its name where its coordinates are the registry's (``cell_line``,
``drug`` of the shared monotherapy hierarchy) and is ``<block>.<dim>`` otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import COMPONENTS, JointData
from .model import DIVIDER


def _blocks(data: JointData) -> dict[str, Any]:
    """Block -> the data its family's functions read (dose-response: the shared hierarchy)."""
    return {"dose_response": data.dr, **{k: v for k, v in data.blocks.items()
                                         if k != "dose_response"}}


def _merge(kind: str, dims: dict, coords: dict, into_dims: dict, into_coords: dict) -> None:
    """A block's dims and coords, namespaced where they clash with others'."""
    rename = {}
    for d, c in coords.items():
        c = [str(x) for x in c]
        if d not in into_coords or into_coords[d] == c:
            into_coords[d] = c
            rename[d] = d
        else:
            into_coords[kind + DIVIDER + d] = c
            rename[d] = kind + DIVIDER + d
    for site, ds in dims.items():
        into_dims[kind + DIVIDER + site] = [rename.get(d, d) for d in ds]


def _renames(data: JointData) -> dict[str, dict[str, str]]:
    dims: dict = {}
    coords: dict = {}
    out = {}
    for kind, d in _blocks(data).items():
        dd, cc = COMPONENTS[kind].posterior_dims(d)
        before = dict(coords)
        _merge(kind, dd, cc, dims, coords)
        out[kind] = {k: (k if k in before and before[k] == [str(x) for x in v]
                         or k not in before else kind + DIVIDER + k) for k, v in cc.items()}
    return out


def posterior_dims(data: JointData) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    dims: dict = {}
    coords: dict = {}
    for kind, d in _blocks(data).items():
        dd, cc = COMPONENTS[kind].posterior_dims(d)
        _merge(kind, dd, cc, dims, coords)
    if "xenograft" in data.blocks:
        coords["link.unit"] = [f"{c}|{d}" for c, d in data.link_units]
        coords["link.cell"] = list(data.link_cells)
        coords["link.drug"] = [data.drugs[d] for d in sorted(set(int(x) for x in
                                                                data.unit_drug))]
        coords["link.syn"] = [f"{c}|{a}+{b}" for c, a, b in data.syn_units]
        coords["link.predicted"] = [f"{p['cell_line']}|{p['arm']}" for p in data.predict]
        for site in ("link.reduction", "link.viability_at_c", "link.z_reduction"):
            dims[site] = ["link.unit"]
        for site in ("link.raw_control_rate_10d", "link.control_rate"):
            dims[site] = ["link.cell"]
        for site in ("link.log10_conc", "link.rmax_10d", "link.rmax", "link.intercept_10d"):
            dims[site] = ["link.drug"]
        for site in ("link.in_vitro_bliss", "link.in_vivo_excess", "link.z_synergy"):
            dims[site] = ["link.syn"]
        for site in ("link.predicted_rate", "link.predicted_tc"):
            dims[site] = ["link.predicted"]
    if "xenograft" in data.blocks:
        dims["log_lik_mouse"] = dims.get("xenograft" + DIVIDER + "log_lik_mouse", ["mouse"])
    if "combination" in data.blocks:
        dims["link.combination_log_top"] = dims["combination" + DIVIDER + "grp_log_top"]
    if "combination" in data.blocks and len(data.offset_drugs):
        cb = data.blocks["combination"]
        coords["link.offset_drug"] = [cb.drugs[int(j)] for j in data.offset_drugs]
        dims["link.assay_log10_ic50"] = ["link.offset_drug"]
    return dims, coords


def observed(data: JointData, samples: dict) -> dict:
    """Each block's observed and constant data (names and dims namespaced)."""
    out: dict[str, dict] = {k: {} for k in ("samples", "dims", "coords", "observed",
                                            "observed_dims", "constant", "constant_dims",
                                            "coords_nd")}
    renames = _renames(data)
    for kind, d in _blocks(data).items():
        pre = kind + DIVIDER
        own = {k[len(pre):]: v for k, v in samples.items() if k.startswith(pre)}
        extra = COMPONENTS[kind].observed(d, own)
        rn = renames[kind]
        for k, v in extra.get("samples", {}).items():
            out["samples"][pre + k] = v
        for k, v in extra.get("coords", {}).items():
            out["coords"][rn.get(k, pre + k)] = v
        for k, ds in extra.get("dims", {}).items():
            out["dims"][pre + k] = [rn.get(x, pre + x) for x in ds]
        for group in ("observed", "constant"):
            for k, v in (extra.get(group) or {}).items():
                out[group][pre + k] = v
                out[f"{group}_dims"][pre + k] = [rn.get(x, pre + x)
                                                 for x in extra[f"{group}_dims"][k]]
        for k, (ds, v) in (extra.get("coords_nd") or {}).items():
            out["coords_nd"][pre + k] = ([rn.get(x, pre + x) for x in ds], v)
    return out


def stripped(draws: dict, kind: str) -> dict[str, np.ndarray]:
    """A block's own draws, by its family's site names."""
    pre = kind + DIVIDER
    return {k[len(pre):]: v for k, v in draws.items() if k.startswith(pre)}


def pointwise(data: JointData, spec: Any, samples: dict, *, seed: int = 0) -> dict:
    """Per-mouse log-likelihood draws ``log_lik_mouse`` of the xenograft block (for LOO: the
    links differ only in what they say about the xenografts), by the xenograft family's own
    ``pointwise`` with the arm rates the link gave."""
    if "xenograft" not in data.blocks:
        return {}
    from ..xenograft.spec import TIME_SCALE
    from .model import component_spec

    xs = stripped(samples, "xenograft")
    xs["arm_rate_10d"] = np.asarray(xs["grp_rate"]) * TIME_SCALE
    fn = COMPONENTS["xenograft"].pointwise
    assert fn is not None  # the xenograft family has one
    out = fn(data.blocks["xenograft"],
                                            component_spec(spec, "xenograft"), xs, seed=seed)
    return {"log_lik_mouse": out["log_lik_mouse"]}
