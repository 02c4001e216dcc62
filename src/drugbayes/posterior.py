"""Labelled posteriors: draws -> ArviZ DataTree with coords from the encoding."""

from __future__ import annotations

import numpy as np
import xarray as xr
from arviz_base import from_dict


def to_datatree(samples: dict[str, np.ndarray], sample_stats: dict[str, np.ndarray],
                dims: dict[str, list[str]], coords: dict[str, list[str]],
                observed: dict[str, np.ndarray] | None = None,
                observed_dims: dict[str, list[str]] | None = None,
                constant: dict[str, np.ndarray] | None = None,
                constant_dims: dict[str, list[str]] | None = None,
                attrs: dict | None = None,
                log_likelihood: dict[str, np.ndarray] | None = None) -> xr.DataTree:
    """Build the ArviZ DataTree (posterior, sample_stats, observed_data, constant_data).

    Parameters
    ----------
    samples : dict
        Site -> ``(chain, draw, ...)``.
    dims, coords : dict
        Dims per site (plate names) and coordinate values.
    log_likelihood : dict, optional
        ``log_lik_<unit>`` -> ``(chain, draw, unit)`` pointwise log-likelihood draws (dims
        from ``dims``), stored in the ``log_likelihood`` group.
    """
    groups: dict = {"posterior": {k: np.asarray(v) for k, v in samples.items()}}
    stats = dict(sample_stats)
    if "num_steps" in stats:
        stats["n_steps"] = stats.pop("num_steps")
    if "accept_prob" in stats:
        stats["acceptance_rate"] = stats.pop("accept_prob")
    if stats:
        groups["sample_stats"] = stats
    if observed:
        groups["observed_data"] = observed
    if constant:
        groups["constant_data"] = constant
    all_dims = dict(dims)
    if log_likelihood:
        groups["log_likelihood"] = {k: np.asarray(v) for k, v in log_likelihood.items()}
    all_dims.update(observed_dims or {})
    all_dims.update(constant_dims or {})
    used = {d for ds in all_dims.values() for d in ds}
    crd = {k: list(v) for k, v in coords.items() if k in used}
    dt = from_dict(groups, dims=all_dims, coords=crd, check_conventions=False)
    dt.attrs.update(attrs or {})
    return dt


def add_nd_coords(tree: xr.DataTree, coords_nd: dict[str, tuple[list[str], np.ndarray]]
                  ) -> xr.DataTree:
    """Attach multi-dimensional coords (e.g. 2-D doses over index dims) to every group that
    has all their dims.

    Parameters
    ----------
    coords_nd : dict
        Coord name -> (dims, values), e.g. ``{"dose_a": (["combination", "dose_a_index"],
        doses)}`` for matrices with their own dose grids.
    """
    if not coords_nd:
        return tree
    for name in list(tree.children):
        ds = tree[name].to_dataset()
        new = {k: (d, np.asarray(v)) for k, (d, v) in coords_nd.items()
               if all(x in ds.dims for x in d)}
        if new:
            tree[name] = xr.DataTree(ds.assign_coords(new))
    return tree


def well_variables(tree: xr.DataTree, parameter_sites: set[str] | list[str]) -> list[str]:
    """Posterior variables that hold one value per well (fitted surfaces, per-well excesses).

    A dim is a *well* dim when the observed or constant data have it and no model parameter
    (``parameter_sites``: the model's latent sites) has it; a posterior variable with a well
    dim is a per-well variable. Per-unit quantities (a curve's IC50, a mouse's rate, a
    combination's beta) have only unit dims and are not.
    """
    data_dims: set[str] = set()
    for group in ("observed_data", "constant_data"):
        if group in tree.children:
            data_dims |= {str(d) for d in tree.children[group].to_dataset().dims}
    if "posterior" not in tree.children:
        return []
    post = tree.children["posterior"].to_dataset()
    param_dims = {str(d) for k in parameter_sites if k in post for d in post[k].dims}
    well_dims = data_dims - param_dims - {"chain", "draw"}
    return [str(k) for k, v in post.data_vars.items() if well_dims & {str(d) for d in v.dims}]


def netcdf_encoding(tree: xr.DataTree, chunk_bytes: int = 4 << 20,
                    level: int = 1) -> dict[str, dict[str, dict]]:
    """Chunked, compressed (gzip with byte shuffle) encoding of every numeric variable of every
    group, for ``DataTree.to_netcdf(encoding=...)``.

    Chunks span whole draws and stay below ``chunk_bytes``; the leading (chain, draw) axes are
    cut first, so one unit's draws can be read without reading the whole array.
    """
    enc: dict[str, dict[str, dict]] = {}
    for node in tree.subtree:
        ds = node.to_dataset(inherit=False)
        group: dict[str, dict] = {}
        for name, var in ds.data_vars.items():
            if var.dtype.kind not in "fiub" or var.ndim == 0 or var.size == 0:
                continue
            shape = list(var.shape)
            chunks = list(shape)
            item = var.dtype.itemsize
            i = 0
            while int(np.prod(chunks)) * item > chunk_bytes and i < len(chunks):
                # halve the outermost axis that is still cut-able
                if chunks[i] > 1:
                    chunks[i] = max(1, chunks[i] // 2)
                else:
                    i += 1
            group[str(name)] = {"zlib": True, "complevel": level, "shuffle": True,
                                "chunksizes": tuple(int(c) for c in chunks)}
        if group:
            enc[node.path] = group
    return enc
