"""Carried columns get DataTree names that a netCDF file can hold, the same rule for every
kind: ``/`` and control characters replaced, a name the tree already uses prefixed, and every
column keeps a variable of its own (posterior.nc is written and read back)."""

from __future__ import annotations

import numpy as np
import xarray as xr

import drugbayes as db
from drugbayes.data.fields import carried_tree_names, tree_name
from drugbayes.families import get_family
from drugbayes.families.xenograft.simulate import simulate_pdx_trial
from drugbayes.posterior import to_datatree


def test_tree_name_rule():
    assert tree_name("body weight (g)") == "body weight (g)"  # allowed as it is
    assert tree_name("weight/g") == "weight_g"
    assert tree_name("a\x00b\tc") == "a_b_c"  # a NUL would cut the name short in HDF5
    assert tree_name("lot  ") == "lot__"
    assert tree_name(".") == "_." and tree_name("") == "_"
    names = carried_tree_names(["a/b", "a_b", "day"], ["day"])
    assert names == {"a/b": "a_b", "a_b": "carried_a_b", "day": "carried_day"}


def test_xenograft_carried_columns_with_awkward_names_reach_posterior_nc(tmp_path):
    """A ``/`` in a carried xenograft column broke writing; a carried name equal to one of
    the tree's own (``mouse_arm``) was dropped silently. Both are kept under safe names."""
    table, _ = simulate_pdx_trial(3, extra_columns=True, seed=5)
    table = table.rename(columns={"body_weight": "weight/g", "tissue": "tissue/site"})
    table["mouse_arm"] = "x"
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    tree = get_family("xenograft").observed(data, {})
    path = tmp_path / "posterior.nc"
    to_datatree({}, {}, {}, {}, observed=tree["observed"], observed_dims=tree["observed_dims"],
                constant=tree["constant"], constant_dims=tree["constant_dims"]
                ).to_netcdf(path, engine="h5netcdf")
    with xr.open_datatree(path, engine="h5netcdf") as back:
        const = back["constant_data"]
        assert const["weight_g"].dims == ("mouse", "obs")
        assert np.isfinite(const["weight_g"].values).any()
        assert const["tissue_site"].dims == ("mouse",)
        assert set(np.asarray(const["carried_mouse_arm"].values)) == {"x"}
        assert const["mouse_arm"].dims == ("mouse",)  # the tree's own, untouched
