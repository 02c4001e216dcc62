"""Exceptions and warnings raised by drugbayes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DrugbayesWarning(UserWarning):
    """Base class of drugbayes' own warnings."""


class DiagnosticsWarning(DrugbayesWarning):
    """Sampler diagnostics failed their thresholds (``on_fail = "warn"``)."""


@dataclass(frozen=True)
class Issue:
    """One problem found in an input table or a config.

    Attributes
    ----------
    source : str
        File name (or ``"<DataFrame>"``) the problem was found in.
    line : int or None
        File line number counting the header as line 1 (row index for a DataFrame or Parquet).
    column : str or None
        Column (the file's own name) or config key.
    value : str or None
        The offending value, as text.
    message : str
        What was expected.
    cell : str or None
        The spreadsheet cell or plate well (``"Sheet1!C14"``, ``"well C5"``), where known.
    """

    source: str
    line: int | None
    column: str | None
    value: str | None
    message: str
    cell: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f", line {self.line}"
        if self.cell is not None:
            where += f", {self.cell}"
        if self.column is not None:
            where += f", column '{self.column}'"
        val = "" if self.value is None else f": value {self.value!r}"
        return f"{where}{val}: {self.message}"


class DrugbayesError(Exception):
    """Base class of drugbayes' errors."""


class InputError(DrugbayesError):
    """Bad user input (data or config); carries every problem found at once (exit code 2)."""

    def __init__(self, issues: Sequence[Issue | str], title: str = "invalid input") -> None:
        self.issues: list[Issue | str] = list(issues)
        self.title = title
        lines = [f"{title}: {len(self.issues)} problem(s)"] + [f"  - {i}" for i in self.issues]
        super().__init__("\n".join(lines))


class DataValidationError(InputError):
    """The input table failed validation."""

    def __init__(self, issues: list[Issue] | list[str]) -> None:
        super().__init__(issues, title="invalid data")


class ConfigError(InputError):
    """The config (or an override or a preset) failed validation."""

    def __init__(self, issues: Sequence[Issue | str]) -> None:
        super().__init__(issues, title="invalid config")


class DiagnosticsError(DrugbayesError):
    """Sampler diagnostics failed their thresholds and ``on_fail = "error"`` (exit code 3)."""
