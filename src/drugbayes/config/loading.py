"""Reading configs: TOML files, ``section.key=value`` overrides, every problem at once."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError, Issue
from .schema import Config


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value``; the value is a TOML value, else a bare string."""
    if "=" not in text:
        raise ConfigError([Issue("--set", None, None, text, "expected section.key=value")])
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".") if p.strip()]
    if len(parts) < 2:
        raise ConfigError([Issue("--set", None, key, text, "expected section.key=value")])
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config dict (returns a new dict)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError([Issue("--set", None, ".".join(parts), text,
                                         f"'{p}' is not a section")])
            node = nxt
        node[parts[-1]] = value
    return out


def _issues_from_pydantic(err: ValidationError, source: str) -> list[Issue]:
    issues = []
    for e in err.errors():
        parts = [str(x) for x in e["loc"]]
        if parts[:2] == ["data", "blocks"]:  # named blocks are written [data.<kind>]
            parts = ["data", *parts[2:]]
        loc = ".".join(parts)
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        else:
            msg = e["msg"]
        val = e.get("input")
        issues.append(Issue(source, None, loc, None if isinstance(val, dict) else repr(val)
                            if val is not None else None, msg))
    return issues


def config_from_dict(raw: dict[str, Any], source: str = "<config>",
                     base_dir: str | Path | None = None) -> Config:
    """Validate a raw config dict; every problem is reported at once as :class:`ConfigError`."""
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_issues_from_pydantic(err, source)) from None
    cfg.source = source
    cfg.base_dir = str(base_dir) if base_dir is not None else None
    cfg.data.set_base_dir(cfg.base_dir)  # layout and readings resolve against it
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a TOML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([Issue(str(path), None, None, None, "config file not found")])
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Issue(str(path), None, None, None, f"not valid TOML: {exc}")]) from None
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(raw, source=str(path), base_dir=path.resolve().parent)
