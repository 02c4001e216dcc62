"""Command line: every config in configs/ runs with tiny budgets; exit codes; atomic outputs."""

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from drugbayes.cli import main
from drugbayes.config import load_config

REPO = Path(__file__).resolve().parents[1]
# per data kind: text of the printed headline and a quantity every summary has
HEADLINE = {"dose_response": ("IC50", "ic50"), "xenograft": ("growth rates", "growth_rate"),
            "combination": ("Synergy", "beta")}
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.toml") if "results" not in p.parts)
TINY = ["--set", "inference.num_warmup=60", "--set", "inference.num_samples=40",
        "--set", "inference.num_chains=2", "--set", "inference.num_steps=300",
        "--set", "inference.map_num_steps=200",
        # a smoke run: the regression example's 0.99 (set against divergences at its own
        # budget) would make its 60 warmup steps walk trees of depth 10
        "--set", "inference.target_accept_prob=0.8"]


# the joint example compiles three families' models in one NUTS program (minutes on 2 cores):
# its CLI run is tests/test_joint.py::test_cli_run_of_the_example, marked slow
SLOW_CONFIGS = {"her2_joint"}

# lab-file examples whose model is their main example's: the plate and date examples give the
# main example's arrays, spec and inference settings, draw for draw
# (tests/test_readers.py::test_lab_examples_fit_as_the_main_examples), and the wide sheet is
# the main example's preset and back-end settings (its draws extended as needed) on (a
# subset of) its wells. NUTS on them
# would repeat lapatinib_her2's and her2_xenograft's NUTS smoke runs (20-50 s each, compile
# bound): their smoke runs check the reading, the run and its outputs, under map without
# Laplace (seconds).
READER_CONFIGS = {"lapatinib_her2_plates": "lapatinib_her2",
                  "lapatinib_her2_wide": "lapatinib_her2",
                  "her2_xenograft_dates": "her2_xenograft"}
POINT_FIT = ["--set", "inference.method=map", "--set", "inference.laplace=false"]


@pytest.mark.parametrize("config", [
    pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_CONFIGS else p for p in CONFIGS],
    ids=[p.stem for p in CONFIGS])
def test_every_config_runs(config, tmp_path, capsys):
    out = tmp_path / config.stem
    point = POINT_FIT if config.stem in READER_CONFIGS else []
    rc = main(["run", str(config), "--quiet", "--set", f"run.output_dir={out}", *TINY, *point])
    printed = capsys.readouterr().out
    assert rc == 0
    kind = tomllib.loads(config.read_text()).get("data", {}).get("kind", "dose_response")
    headline, quantity = HEADLINE[kind]
    if config.stem.endswith("_gr"):  # GR values: the potency is GEC50
        quantity = "gec50"
    assert headline in printed
    for f in ("posterior.nc", "summary.csv", "diagnostics.json", "manifest.json",
              "config.resolved.toml", "run.log"):
        assert (out / f).is_file(), f
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] is not None and manifest["config_hash"]
    again = load_config(out / "config.resolved.toml")  # the resolved config loads again
    written = tomllib.loads((out / "config.resolved.toml").read_text())
    assert again.to_toml_dict()["data"] == written["data"]
    s = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert quantity in set(s["quantity"])
    if config.stem == "lapatinib_her2":  # its missing well (the plate example excludes it)
        assert (out / "plots" / "dose_response_lapatinib.png").is_file()
        diag = json.loads((out / "diagnostics.json").read_text())
        assert diag["dropped_wells"]["count"] == 1
        assert "missing response" in (out / "run.log").read_text()
        assert "SKBR3-L/SKBR3" in set(s["cell_line"])
    if kind == "combination":
        assert list(s.columns[:5]) == ["cell_line", "drug_a", "drug_b", "experiment",
                                       "quantity"]
        assert "pooled" in set(s["cell_line"])
        rate = "rate" in config.stem or "dip" in config.stem
        surfaces = "growth rates" if rate else "viability"
        assert (s["sign_convention"] == f"positive = synergy; surfaces are {surfaces}").all()
        assert list((out / "plots").glob("combination_*.png"))
        diag = json.loads((out / "diagnostics.json").read_text())
        if "lapatinib_trastuzumab" in config.stem:
            assert diag["dropped_wells"]["count"] == 1


def test_reader_configs_share_their_main_example_s_model():
    """The examples run under map above have a main example whose smoke run keeps NUTS, with
    the same preset and back-end."""
    for lab, main_example in READER_CONFIGS.items():
        a, b = (tomllib.loads((REPO / "configs" / "examples" / f"{n}.toml").read_text())
                for n in (lab, main_example))
        assert a["model"]["preset"] == b["model"]["preset"], lab
        assert a["inference"]["method"] == b["inference"]["method"] == "nuts", lab
        assert main_example not in READER_CONFIGS


def test_families_and_validate(capsys, example_config):
    assert main(["families"]) == 0
    out = capsys.readouterr().out
    assert "dose_response" in out and "dose_response/hier_3pl" in out
    assert main(["validate", str(example_config)]) == 0
    assert "ok (659 wells" in capsys.readouterr().out


def test_diagnostics_failure_exit_code_3(tmp_path, capsys):
    cfg = REPO / "configs" / "smoke" / "minimal_map.toml"
    out = tmp_path / "o"
    rc = main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}", *TINY,
               "--set", "inference.method=nuts", "--set", "diagnostics.on_fail=error",
               "--set", "diagnostics.min_ess_bulk=1e9"])
    assert rc == 3
    assert json.loads((out / "diagnostics.json").read_text())["passed"] is False


def test_failure_midway_leaves_no_folder(tmp_path, monkeypatch, capsys):
    import drugbayes.api as api

    def boom(result, cfg, folder, t0, inputs=None):
        (Path(folder) / "summary.csv").write_text("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(api, "write_run_directory", boom)
    cfg = REPO / "configs" / "smoke" / "minimal_map.toml"
    out = tmp_path / "o"
    rc = main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}", *TINY,
               *POINT_FIT])
    assert rc == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_killed_run_leaves_no_complete_folder(tmp_path, example_config):
    """SIGKILL during the fit: only a hidden '.<name>.incomplete-*' folder remains."""
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "drugbayes", "run", str(example_config),
                             "--quiet", "--set", f"run.output_dir={out}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob(".killed.incomplete-*")):
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    leftovers = list(tmp_path.glob(".killed.incomplete-*"))
    assert leftovers and not (leftovers[0] / "manifest.json").exists()


MINIMAL = REPO / "configs" / "smoke" / "minimal_map.toml"


def _run_minimal(out, capsys, *configs, extra=()):
    """Run directory handling: a point fit (map without Laplace) is enough."""
    rc = main(["run", *(str(c) for c in (configs or (MINIMAL,))), "--quiet",
               "--set", f"run.output_dir={out}", *TINY, *POINT_FIT, *extra])
    return rc, capsys.readouterr().err


def test_existing_user_folder_is_never_touched(tmp_path, capsys):
    """An output_dir that is a user's folder: exit 2 before fitting, its files intact."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("my lab notes")
    rc, err = _run_minimal(notes, capsys)
    assert rc == 2
    assert "not a drugbayes run directory" in err and "run.output_dir" in err
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]
    assert (notes / "notes.txt").read_text() == "my lab notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]  # no .incomplete folder
    # a plain file at the output path is refused the same way
    f = tmp_path / "afile"
    f.write_text("x")
    rc, err = _run_minimal(f, capsys)
    assert rc == 2 and "is a file" in err and f.read_text() == "x"


def test_run_directory_is_replaced_but_not_with_extra_files(tmp_path, capsys):
    """A finished run directory is skipped by a rerun with the same inputs (plots and report
    included), replaced with --force; one a user added files to is not replaced."""
    out = tmp_path / "run"
    out.mkdir()  # an empty folder is a valid target
    assert _run_minimal(out, capsys)[0] == 0
    first = json.loads((out / "manifest.json").read_text())["wall_seconds"]
    assert _run_minimal(out, capsys)[0] == 0
    assert json.loads((out / "manifest.json").read_text())["wall_seconds"] == first  # skipped
    assert _run_minimal(out, capsys, extra=["--force"])[0] == 0
    assert json.loads((out / "manifest.json").read_text())["wall_seconds"] != first
    (out / "my_analysis.R").write_text("library(ggplot2)")
    rc, err = _run_minimal(out, capsys)
    assert rc == 2 and "my_analysis.R" in err
    assert (out / "my_analysis.R").read_text() == "library(ggplot2)"


def test_batch_configs_sharing_a_run_directory_are_refused(tmp_path, capsys):
    out = tmp_path / "shared"
    rc, err = _run_minimal(out, capsys, MINIMAL, REPO / "configs" / "smoke" /
                           "percent_3pl_student_t.toml")
    assert rc == 2 and "the same run directory" in err
    assert list(tmp_path.iterdir()) == []


def test_api_run_config_refuses_user_folder(tmp_path):
    from drugbayes.api import run_config
    from drugbayes.config import load_config
    from drugbayes.errors import InputError

    (tmp_path / "keep.txt").write_text("keep")
    cfg = load_config(MINIMAL, [f"run.output_dir={tmp_path}"])
    with pytest.raises(InputError, match="not a drugbayes run directory"):
        run_config(cfg)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
