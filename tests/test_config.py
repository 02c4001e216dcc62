"""Config: unknown keys, overrides, presets."""

import pytest

from drugbayes.config import (
    apply_overrides,
    config_from_dict,
    list_presets,
    load_config,
    parse_override,
    resolve_model,
)
from drugbayes.errors import ConfigError


def test_unknown_keys_are_all_reported():
    with pytest.raises(ConfigError) as e:
        config_from_dict({"run": {"sead": 1}, "inference": {"methd": "nuts"}})
    msg = str(e.value)
    assert "run.sead" in msg and "inference.methd" in msg and "unknown key" in msg


def test_override_parsing():
    assert parse_override("inference.num_samples=50") == (["inference", "num_samples"], 50)
    assert parse_override("run.output_dir=out/x") == (["run", "output_dir"], "out/x")
    assert parse_override('inference.method="map"') == (["inference", "method"], "map")
    assert parse_override("report.plots=false")[1] is False
    raw = apply_overrides({"data": {"columns": {}}}, ["data.columns.dose=Conc (uM)"])
    assert raw["data"]["columns"]["dose"] == "Conc (uM)"


def test_bad_override():
    with pytest.raises(ConfigError):
        parse_override("nokey")


def test_presets_resolve_and_default(example_config):
    assert {"dose_response/hier_4pl", "dose_response/hier_3pl",
            "dose_response/robust_4pl"} <= set(list_presets())
    cfg = load_config(example_config)
    m = resolve_model(cfg.model, "dose_response")
    assert m.family == "dose_response" and m.options["curve"] == "4pl"
    default = resolve_model(config_from_dict({}).model, "dose_response")
    assert default.preset == "dose_response/hier_4pl"


def test_paths_relative_to_config(example_config):
    cfg = load_config(example_config)
    assert cfg.resolved_data_path().is_file()
    assert cfg.resolved_output_dir().parent.parent == example_config.parent


def test_unknown_model_option_is_config_error():
    from drugbayes.families import get_family

    with pytest.raises(ConfigError, match="unknown key"):
        get_family("dose_response").make_spec({"curv": "4pl"}, {})
    with pytest.raises(ConfigError, match="unknown family"):
        get_family("nope")


def test_resolved_config_writer_gives_toml_for_numpy_scalars():
    """Numpy scalars (a prior default computed with numpy) are written as TOML numbers and
    booleans, not as their Python repr (``np.float64(3.9)`` is not TOML)."""
    import tomllib

    import numpy as np

    from drugbayes.config.toml import dump_toml

    text = dump_toml({"priors": {"a": np.float64(3.5), "b": np.int64(2), "c": np.bool_(True),
                                 "d": [np.float32(0.5)], "e": float("-inf")}})
    assert tomllib.loads(text) == {"priors": {"a": 3.5, "b": 2, "c": True, "d": [0.5],
                                              "e": float("-inf")}}
