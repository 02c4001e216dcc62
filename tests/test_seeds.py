"""Seeds: two runs of a config with the same seed write identical summary.csv files."""

from pathlib import Path

import pytest

from drugbayes.cli import main

REPO = Path(__file__).resolve().parents[1]
MAP = ["--set", "inference.method=map", "--set", "inference.map_num_steps=200",
       "--set", "report.plots=false"]
CONFIGS = {"dose_response": REPO / "configs" / "smoke" / "minimal_map.toml",
           "xenograft": REPO / "configs" / "examples" / "her2_xenograft.toml",
           "combination": REPO / "configs" / "examples" / "lapatinib_trastuzumab_combination.toml"}
# The Laplace draws (inference/laplace.py, the same code for every family) are checked here by
# the dose_response run, and for combination by tests/test_combination.py::
# test_same_seed_same_result (two map + Laplace fits of a small simulated screen, same seed,
# equal summaries). The xenograft run checks its own streams (a new mouse's time to volume,
# mRECIST classes: drawn from the run's seed with or without Laplace). Both skip the Laplace
# step of the examples, most of each of their two fits (its marginal search for held scales).
NO_LAPLACE = ["--set", "inference.laplace=false"]
EXTRA = {"xenograft": NO_LAPLACE, "combination": NO_LAPLACE}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_same_seed_same_summary(kind, tmp_path, capsys):
    """Every random draw of a run (predictive quantities included) is reproducible."""
    texts = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        rc = main(["run", str(CONFIGS[kind]), "--quiet", "--set", f"run.output_dir={out}",
                   "--set", "run.seed=7", *MAP, *EXTRA.get(kind, [])])
        assert rc == 0, capsys.readouterr().err
        texts.append((out / "summary.csv").read_text())
    assert texts[0] == texts[1]
    if kind == "xenograft":  # the predictive quantities are in the compared text
        assert "time_to_volume" in texts[0] and "p_mrecist" in texts[0]


def test_predictive_draws_follow_the_run_seed(tmp_path, capsys):
    """Xenograft predictive quantities (a new mouse's time to volume, mRECIST classes, the
    mice table) are drawn from streams of the run's seed: another seed changes them, and
    nothing else (growth rates are functions of the posterior draws alone)."""
    import dataclasses

    import pandas as pd

    import drugbayes as db
    from drugbayes.seeding import stream_seed

    assert stream_seed(7, "a") == stream_seed(7, "a") != stream_seed(8, "a")
    assert stream_seed(7, "a") != stream_seed(7, "b")
    table, _ = db.simulate.simulate_xenograft(4, seed=2)
    res = db.fit(table, "xenograft", control_arm="vehicle", volume_constant=0.5,
                 inference={"method": "map", "map_num_steps": 200}, seed=7)
    other = dataclasses.replace(res, seed=8, _summaries={})
    key = ["cell_line", "arm", "quantity"]
    a = res.summary().set_index(key)["mean"]
    b = other.summary().set_index(key)["mean"]
    predictive = a.index.get_level_values("quantity").str.match(r"time_to_volume|p_mrecist")
    assert predictive.any()
    assert not a[predictive].equals(b[predictive])
    pd.testing.assert_series_equal(a[~predictive], b[~predictive])
    ma = res.extra_tables()["mice.csv"]
    mb = other.extra_tables()["mice.csv"]
    assert not ma.equals(mb)
