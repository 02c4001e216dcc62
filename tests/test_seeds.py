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


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_same_seed_same_summary(kind, tmp_path, capsys):
    """Every random draw of a run (predictive quantities included) is reproducible."""
    texts = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        rc = main(["run", str(CONFIGS[kind]), "--quiet", "--set", f"run.output_dir={out}",
                   "--set", "run.seed=7", *MAP])
        assert rc == 0, capsys.readouterr().err
        texts.append((out / "summary.csv").read_text())
    assert texts[0] == texts[1]
