"""Model presets: ``[model] preset = "dose_response/hier_4pl"`` loads a TOML from ``models/``
(shipped in the wheel as ``drugbayes/presets``); explicit ``options`` and ``priors`` override the
preset's."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Issue
from .schema import ModelConfig


def _preset_roots() -> list[Path]:
    roots = []
    try:
        pkg = resources.files("drugbayes") / "presets"
        if pkg.is_dir():
            roots.append(Path(str(pkg)))
    except (ModuleNotFoundError, TypeError):
        pass
    repo_models = Path(__file__).resolve().parents[3] / "models"
    if repo_models.is_dir():
        roots.append(repo_models)
    return roots


def list_presets() -> list[str]:
    """Names of every preset (``family/name``)."""
    names = set()
    for root in _preset_roots():
        for f in root.glob("*/*.toml"):
            names.add(f"{f.parent.name}/{f.stem}")
    return sorted(names)


def load_preset(name: str) -> dict[str, Any]:
    """Load a preset TOML by name (``family/name``)."""
    for root in _preset_roots():
        f = root / f"{name}.toml"
        if f.is_file():
            return tomllib.loads(f.read_text())
    raise ConfigError([Issue("<config>", None, "model.preset", name,
                             f"unknown preset; available: {', '.join(list_presets())}")])


def resolve_model(model: ModelConfig, kind: str) -> ModelConfig:
    """Merge the preset (or the kind's default preset) with explicit options and priors."""
    from ..families import family_for_kind

    name = model.preset or (None if model.family else family_for_kind(kind).default_preset)
    base: dict[str, Any] = {"options": {}, "priors": {}}
    if name is not None:
        base = load_preset(name)
    family = model.family or base.get("family") or kind
    options = {**base.get("options", {}), **model.options}
    priors = {**base.get("priors", {}), **model.priors}
    return ModelConfig(preset=name, family=family, description=base.get("description"),
                       options=options, priors=priors)
