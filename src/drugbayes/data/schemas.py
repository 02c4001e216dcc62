"""Column schemas of the input kinds (canonical names)."""

from __future__ import annotations

from dataclasses import dataclass

DOSE_UNITS: dict[str, float] = {"M": 1.0, "mM": 1e-3, "uM": 1e-6, "nM": 1e-9, "pM": 1e-12}
"""Dose unit -> molar factor."""

WELL_ROLES = ("sample", "vehicle", "blank", "time_zero")


@dataclass(frozen=True)
class Schema:
    """Required and optional canonical columns of one data kind."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    identifying: tuple[str, ...]

    @property
    def known(self) -> tuple[str, ...]:
        return self.required + self.optional


DOSE_RESPONSE = Schema(
    kind="dose_response",
    required=("cell_line", "drug", "dose", "response"),
    optional=("replicate", "plate", "experiment", "well", "well_role"),
    identifying=("experiment", "plate", "cell_line", "drug", "dose", "replicate", "well"),
)


XENOGRAFT = Schema(
    kind="xenograft",
    required=("mouse", "arm", "day"),
    optional=("volume", "length", "width", "cell_line", "experiment", "status"),
    identifying=("experiment", "mouse", "day"),
)
