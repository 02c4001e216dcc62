"""Run configuration: TOML files validated at the edge (unknown keys are errors).

A config holds one run. ``[model] preset = "dose_response/hier_4pl"`` loads a preset from
``models/`` (shipped in the wheel as ``drugbayes/presets``); explicit ``options`` and ``priors``
override the preset's. Paths are relative to the config file.

Modules: :mod:`.schema` (the pydantic models), :mod:`.loading` (files and ``--set``
overrides), :mod:`.presets` (model presets), :mod:`.toml` (the TOML writer).
"""

from __future__ import annotations

from .loading import (
    apply_overrides,
    config_from_dict,
    load_config,
    parse_override,
)
from .presets import list_presets, load_preset, resolve_model
from .schema import (
    Config,
    DataConfig,
    DiagnosticsConfig,
    InferenceConfig,
    ModelConfig,
    ReportConfig,
    RunConfig,
    kind_keys,
)
from .toml import dump_toml

__all__ = [
    "Config", "DataConfig", "DiagnosticsConfig", "kind_keys",
    "InferenceConfig", "ModelConfig", "ReportConfig", "RunConfig", "apply_overrides",
    "config_from_dict",
    "dump_toml", "list_presets", "load_config", "load_preset", "parse_override",
    "resolve_model",
]
