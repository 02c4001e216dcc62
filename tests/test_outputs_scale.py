"""Run directories that scale: per-well draws only on request, compressed chunked
``posterior.nc``, one overview figure and per-unit figures up to ``report.max_unit_plots``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import xarray as xr

from drugbayes.cli import main

REPO = Path(__file__).resolve().parents[1]
COMBINATION = REPO / "configs" / "examples" / "lapatinib_trastuzumab_combination.toml"
QUICK = ["--quiet", "--set", "inference.method=map", "--set", "inference.map_num_steps=50",
         "--set", "inference.laplace=false"]


def test_well_draws_on_request_compressed_and_plots_capped(tmp_path, capsys):
    lean, full = tmp_path / "lean", tmp_path / "full"
    rc = main(["run", str(COMBINATION), *QUICK, "--set", f"run.output_dir={lean}",
               "--set", "report.max_unit_plots=1"])
    assert rc == 0, capsys.readouterr().err
    rc = main(["run", str(COMBINATION), *QUICK, "--set", f"run.output_dir={full}",
               "--set", "report.store_well_draws=true", "--set", "report.plots=false"])
    assert rc == 0, capsys.readouterr().err

    lean_post = xr.open_datatree(lean / "posterior.nc", engine="h5netcdf")["posterior"]
    full_post = xr.open_datatree(full / "posterior.nc", engine="h5netcdf")["posterior"]
    wells = {"surface_viability", "bliss_excess", "zip_delta"}
    assert wells <= set(full_post.data_vars)
    assert not wells & set(lean_post.data_vars)
    # the per-unit quantities and the model's parameters stay
    assert {"grp_beta", "mat_beta", "pop_beta", "z_matrix", "sigma"} <= set(lean_post.data_vars)
    log = (full / "run.log").read_text()
    i_size = log.index("writing per-well draws")
    assert "MB" in log[i_size:i_size + 300]
    assert i_size < log.index("MB written")  # the size is stated before writing
    assert "per-well draws left out" in (lean / "run.log").read_text()
    with h5py.File(full / "posterior.nc") as f:
        v = f["posterior"]["surface_viability"]
        assert v.compression == "gzip" and v.chunks is not None

    plots = sorted(p.name for p in (lean / "plots").iterdir())
    assert "overview.png" in plots
    assert len([p for p in plots if p.startswith("combination_")]) == 1
    manifest = json.loads((lean / "manifest.json").read_text())
    assert len(manifest["plots_not_drawn"]) == 3
    assert all(p.startswith("combination ") for p in manifest["plots_not_drawn"])
    assert "not drawn" in (lean / "run.log").read_text()
