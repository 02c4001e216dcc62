"""Encoded fields shared by every kind: category levels and the dose scale.

- :class:`Levels`: the names of a categorical column (first appearance order) and their integer
  codes; the same levels encode another table's values with the same codes.
- :class:`DoseScale`: doses as centred log10 molar values per drug (what the models see) and
  the way back to the data's unit (what summaries, plots and the DataTree report), in one
  object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .schemas import DOSE_UNITS


class UnknownLevelError(ValueError):
    """Values that are not among the levels they are encoded with."""


@dataclass
class Levels:
    """Category names, in order of first appearance, and their codes ``0..n-1``.

    Parameters
    ----------
    names : list of str
        The levels; code ``i`` is ``names[i]``.
    what : str
        What the levels are ("cell line", "drug", ...), for error messages.
    """

    names: list[str]
    what: str = "level"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self._index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def of(cls, values: Iterable, what: str = "level") -> Levels:
        """The distinct values (as text) of a column, in order of first appearance."""
        return cls(list(pd.unique(pd.Series(values).astype(str))), what)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __getitem__(self, code: int) -> str:
        return self.names[code]

    @property
    def index(self) -> dict[str, int]:
        """Name -> code."""
        return self._index

    def code(self, name: object) -> int:
        """The code of one name (:class:`UnknownLevelError` if it is not a level)."""
        return int(self.codes([name])[0])

    def codes(self, values: Iterable) -> np.ndarray:
        """``int32`` codes of ``values`` (compared as text), e.g. another table's column.

        Raises
        ------
        UnknownLevelError
            Naming every value that is not a level.
        """
        text = [str(v) for v in values]
        index = self._index
        codes = np.fromiter((index.get(t, -1) for t in text), np.int32, count=len(text))
        if (codes < 0).any():
            bad = list(dict.fromkeys(t for t, c in zip(text, codes) if c < 0))
            shown = ", ".join(repr(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
            known = ", ".join(repr(n) for n in self.names[:10]) + (
                " ..." if len(self.names) > 10 else "")
            raise UnknownLevelError(f"unknown {self.what}(s) {shown}; the levels are {known}")
        return codes


FAR_DOSE_DECADES = 3.0
"""A positive dose is reported (kept, logged) when its log10 lies more than ``FAR_DOSE_DECADES
+ 3 x half_range`` decades from its drug's centre (:class:`DoseScale`): for a 9-dose,
half-log dilution series (half range 2 decades) 9 decades, far beyond any tested range and
typical of a unit or typing slip (``1e30``)."""


def _robust_centre(logd: np.ndarray) -> tuple[float, float]:
    """Median and half the interquartile range x 2 (= the IQR) of the distinct values."""
    u = np.unique(logd)
    q1, med, q3 = np.quantile(u, [0.25, 0.5, 0.75])
    return float(med), float(q3 - q1)


@dataclass(frozen=True)
class DoseScale:
    """Per-drug centring of log10 molar doses, and the way back to the data's unit.

    A positive dose ``d`` (in ``unit``) of drug ``j`` enters the models as
    ``x = log10(d * unit_in_M) - center[j]``, with ``center[j]`` the middle of the drug's tested
    positive doses in log10 M, so changing the dose unit changes nothing but the reported
    units; dose 0 is ``x = 0`` (models mark it separately). :meth:`to_log10` and :meth:`to_dose`
    bring centred values (IC50s, potencies, doses) back to the user's unit.

    The centre and the half range are robust: the median and the interquartile range of the
    drug's *distinct* log10 doses. For an evenly spaced dilution series they are exactly the
    middle and half of the tested range; one stray dose (a typo, ``1e30``) moves them by at
    most about one dilution step instead of dragging every curve of the drug (and the drug's
    IC50 prior, whose scale is the half range) to it (:func:`far_doses` names such doses).

    Attributes
    ----------
    center : array ``[drug]``
        Log10 M at the middle (median of the distinct doses) of each drug's tested doses.
    half_range : array ``[drug]``
        Each drug's robust half range in decades (the interquartile range of its distinct log10
        doses: half the tested range for an evenly spaced series).
    unit : str
        The data's dose unit (a key of :data:`~drugbayes.data.schemas.DOSE_UNITS`).
    """

    center: np.ndarray
    half_range: np.ndarray
    unit: str = "M"

    @classmethod
    def from_doses(cls, doses: ArrayLike, drug: ArrayLike, n_drugs: int,
                   unit: str = "M") -> DoseScale:
        """Centre each drug on its tested positive doses (median and interquartile range of
        the distinct log10 doses).

        Parameters
        ----------
        doses : array
            Positive doses in ``unit`` (one per well or per distinct dose).
        drug : array of int
            The drug code of each dose.
        n_drugs : int
            Number of drugs (each must have at least one dose).
        unit : str
        """
        # log10(dose) + log10(unit): a product would underflow for subnormal doses (1e-320)
        logd = np.log10(np.asarray(doses, np.float64)) + np.log10(DOSE_UNITS[unit])
        drug = np.asarray(drug)
        center = np.zeros(n_drugs)
        half = np.zeros(n_drugs)
        for j in range(n_drugs):
            center[j], half[j] = _robust_centre(logd[drug == j])
        return cls(center, half, unit)

    def far(self, dose: ArrayLike, drug: ArrayLike) -> np.ndarray:
        """Which positive doses (in ``unit``; ``drug``: codes) lie more than
        :data:`FAR_DOSE_DECADES` ``+ 3 x half_range`` decades from their drug's centre."""
        dose = np.asarray(dose, np.float64)
        drug = np.asarray(drug)
        pos = dose > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.abs(np.log10(np.where(pos, dose, 1.0)) + self.unit_offset
                          - self.center[drug])
        return pos & (dist > FAR_DOSE_DECADES + 3.0 * self.half_range[drug])


    @property
    def factor(self) -> float:
        """One ``unit`` in M."""
        return DOSE_UNITS[self.unit]

    @property
    def unit_offset(self) -> float:
        """``log10`` of one ``unit`` in M: ``log10(dose in unit) = log10(dose in M) -
        unit_offset``."""
        return float(np.log10(self.factor))

    @property
    def shift(self) -> np.ndarray:
        """``[drug]``: add to a centred log10 dose to get log10 dose in ``unit``."""
        return self.center - self.unit_offset

    def centre(self, dose: ArrayLike, drug: int | np.ndarray) -> np.ndarray:
        """Centred log10 M of doses in ``unit`` (0 where the dose is 0, negative or NaN).

        ``drug`` (codes) broadcasts against ``dose``.
        """
        dose = np.asarray(dose, np.float64)
        pos = dose > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log10(np.where(pos, dose, 1.0)) + self.unit_offset - self.center[drug]
        return np.where(pos, x, 0.0)

    def to_log10(self, x: ArrayLike, drug: int | np.ndarray) -> np.ndarray:
        """Log10 dose in ``unit`` of centred values ``x`` of drugs ``drug`` (broadcast)."""
        return x + self.shift[drug]

    def to_dose(self, x: ArrayLike, drug: int | np.ndarray, is_zero: ArrayLike | None = None
                ) -> np.ndarray:
        """Dose in ``unit`` of centred values ``x`` of drugs ``drug`` (broadcast).

        ``+inf`` and ``0`` for ``x = +inf`` and ``-inf`` (an IC50 never reached or always
        passed), 0 where ``is_zero``; finite log10 doses are clipped to ``[-300, 300]``.
        """
        lx = self.to_log10(x, drug)
        d = np.where(np.isinf(lx), np.where(lx > 0, np.inf, 0.0), 10.0 ** np.clip(lx, -300, 300))
        return d if is_zero is None else np.where(is_zero, 0.0, d)


def far_doses(doses: ArrayLike, drugs: Iterable, unit: str = "M") -> list[tuple[int, str]]:
    """The doses far from their drug's others (:meth:`DoseScale.far`), as notes for the log.

    Parameters
    ----------
    doses : array
        Positive doses in ``unit``, one per row.
    drugs : array of str
        The drug of each row.
    unit : str

    Returns
    -------
    list of (row position, note)
        One entry per distinct far dose of a drug, at its first row.
    """
    doses = np.asarray(doses, np.float64)
    if not len(doses):
        return []
    levels = Levels.of(drugs, "drug")
    codes = levels.codes(pd.Series(drugs).astype(str))
    scale = DoseScale.from_doses(doses, codes, len(levels), unit)
    far = scale.far(doses, codes)
    out: list[tuple[int, str]] = []
    seen: set = set()
    for pos in np.flatnonzero(far):
        key = (codes[pos], doses[pos])
        if key in seen:
            continue
        seen.add(key)
        j = codes[pos]
        mid = 10.0 ** scale.to_log10(0.0, j)
        dist = abs(np.log10(doses[pos]) + scale.unit_offset - scale.center[j])
        out.append((int(pos), f"dose {doses[pos]:g} {unit} of drug {levels[j]!r} is "
                    f"{dist:.1f} decades from the middle of the drug's doses ({mid:.3g} {unit}); "
                    "kept (check for a typing or unit slip)"))
    return out


class DosedData:
    """Mixin of encoded data holding a :class:`DoseScale` (``dose_scale``): its unit and
    per-drug centring as attributes of the data."""

    dose_scale: DoseScale

    @property
    def dose_unit(self) -> str:
        """The data's dose unit."""
        return self.dose_scale.unit

    @property
    def drug_center(self) -> np.ndarray:
        """``[drug]`` log10 M of the centre of each drug's tested range."""
        return self.dose_scale.center

    @property
    def drug_half_range(self) -> np.ndarray:
        """``[drug]`` robust half of each drug's tested range, in decades
        (:class:`DoseScale`)."""
        return self.dose_scale.half_range


def carried_text(col: pd.Series) -> pd.Series:
    """A carried column's values as stripped text (empty for missing)."""
    return col.astype("string").fillna("").str.strip().astype(object)


def carry_by_unit(carried: pd.DataFrame | None, unit: ArrayLike, n_units: int
                  ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Columns the model does not use, split by whether they are constant within every unit.

    Parameters
    ----------
    carried : DataFrame or None
        The carried columns, one row per row of ``unit`` (a row may appear more than once, for
        a well that belongs to several units).
    unit : array of int
        The unit (curve, mouse, matrix) of each row; rows with a negative unit (wells in no
        unit) are left out.
    n_units : int

    Returns
    -------
    (constant, varying)
        Each ``{column: [unit] text}``: ``constant`` the columns with at most one non-empty
        value in every unit (that value, or ""), ``varying`` the others with each unit's
        distinct non-empty values joined by ``"; "``.
    """
    constant: dict[str, list[str]] = {}
    varying: dict[str, list[str]] = {}
    if carried is None:
        return constant, varying
    u = np.asarray(unit, dtype=np.int64)
    use = u >= 0
    for col in carried.columns:
        txt = carried_text(carried[col]).to_numpy()[use]
        by_unit: list[dict[str, None]] = [{} for _ in range(n_units)]
        for k, v in zip(u[use], txt):
            if v:
                by_unit[k][v] = None
        vals = ["; ".join(d) for d in by_unit]
        (constant if all(len(d) <= 1 for d in by_unit) else varying)[str(col)] = vals
    return constant, varying


def carried_note(constant: Iterable[str], varying: Iterable[str], unit: str,
                 dim: str | None = None) -> str:
    """The run log's words on carried columns (``""`` without any): ``unit`` names the unit
    (``"curve"``, ``"matrix"``), ``dim`` its DataTree dimension (default ``unit``)."""
    const, vary = list(constant), list(varying)
    if not const and not vary:
        return ""
    parts = []
    if const:
        parts.append(f"one value per {unit}, in the summary rows and on the DataTree's "
                     f"{dim or unit} dimension: {', '.join(const)}")
    if vary:
        parts.append(f"varying within a {unit}, kept per well in the DataTree only: "
                     f"{', '.join(vary)}")
    return f"; carried columns (not modelled): {', '.join([*const, *vary])} ({'; '.join(parts)})"


def carried_by_group(per_unit: dict[str, list[str]], unit_group: ArrayLike, n_groups: int,
                     joined: bool = True) -> dict[str, list[str]]:
    """Per-unit carried values gathered to the units' groups (a curve's cell line x drug, a
    matrix's combination): each group's distinct values joined by ``"; "`` (with ``joined =
    False``, a column that varies within some group is empty in every group)."""
    if not per_unit:
        return {}
    const, vary = carry_by_unit(pd.DataFrame(per_unit), unit_group, n_groups)
    return {c: const[c] if c in const else (vary[c] if joined else [""] * n_groups)
            for c in per_unit}


def tree_name(column: str) -> str:
    """A column name as a DataTree / netCDF variable name: ``/`` (a group separator there) and
    control characters (a NUL would cut the name short in HDF5) as ``_``, trailing
    whitespace (refused by netCDF-C) as ``_``, and a name that is empty or only dots (``.``
    is HDF5's own group) prefixed with ``_``."""
    name = "".join("_" if ch == "/" or ord(ch) < 32 or ord(ch) == 127 else ch
                   for ch in str(column))
    stripped = name.rstrip()
    name = stripped + "_" * (len(name) - len(stripped))
    if not name.strip("."):
        name = "_" + name
    return name


def carried_tree_names(columns: Iterable[str], taken: Iterable[str]) -> dict[str, str]:
    """The DataTree name of each carried column (:func:`tree_name`), with ``carried_`` before
    a name that ``taken`` (the tree's own variables, coordinates and dimensions) or an earlier
    column already uses: every column keeps a variable of its own."""
    used = set(taken)
    out: dict[str, str] = {}
    for col in columns:
        name = tree_name(col)
        while name in used:
            name = f"carried_{name}"
        used.add(name)
        out[str(col)] = name
    return out
