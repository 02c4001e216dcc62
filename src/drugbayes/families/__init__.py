"""Registry of model families: one file + one line each."""

from __future__ import annotations

from ..errors import ConfigError, Issue
from ._contract import Family, Spec
from .combination import FAMILY as _COMBINATION
from .dose_response import FAMILY as _DOSE_RESPONSE
from .joint import FAMILY as _JOINT
from .xenograft import FAMILY as _XENOGRAFT

REGISTRY: dict[str, Family] = {
    _DOSE_RESPONSE.name: _DOSE_RESPONSE,
    _XENOGRAFT.name: _XENOGRAFT,
    _COMBINATION.name: _COMBINATION,
    _JOINT.name: _JOINT,
}


def get_family(name: str) -> Family:
    """Look a family up by name, with a clear error listing the registered ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError([Issue("<config>", None, "model.family", name,
                                 f"unknown family; registered: {', '.join(REGISTRY)}")]) from None


def kinds() -> list[str]:
    """The data kinds, in registry order (the first is the default kind)."""
    return list(dict.fromkeys(f.kind for f in REGISTRY.values()))


def family_for_kind(kind: str) -> Family:
    """The family that reads and encodes tables of a data kind (its first registered one)."""
    for fam in REGISTRY.values():
        if fam.kind == kind:
            return fam
    raise ConfigError([Issue("<config>", None, "data.kind", kind,
                             f"unknown kind; expected one of "
                             f"{', '.join(sorted({f.kind for f in REGISTRY.values()}))}")])


__all__ = ["Family", "Spec", "REGISTRY", "family_for_kind", "get_family", "kinds"]
