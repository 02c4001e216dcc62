"""Dose units of the ``joint`` family's in-vitro blocks: one unit per drug.

Small molecules are dosed in molar units (``uM``), antibodies often in mass concentrations
(``ug/mL``). Each drug has one unit, the unit of its doses, IC50s and in-vivo concentrations
in every output:

- ``[data.dose_units]`` declares a drug's unit (``trastuzumab = "ug/mL"``);
- a row's own unit is its ``dose_unit`` column (``dose_unit_a`` / ``dose_unit_b`` for the two
  drugs of a checkerboard row), else its block's ``dose_unit`` where the block sets it, else
  the drug's declared unit;
- a dose in another unit of the same kind (``nM`` for a ``uM`` drug, ``ng/mL`` for a ``ug/mL``
  one) is converted to the declared unit; molar and mass concentrations never convert (that
  would need a molecular weight): such a row is a conflict;
- a drug without a declared unit has the unit of its rows, which must be one across every block
  (a conflict otherwise, reported with where each unit was found).

Every conflict and every unknown unit is reported at once (:func:`read_units`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ...data.readers.columns import concentration_unit
from ...data.schemas import DOSE_UNITS
from ...errors import Issue

MASS_UNITS: dict[str, float] = {"pg/mL": 1e-12, "ng/mL": 1e-9, "ug/mL": 1e-6, "mg/mL": 1e-3}
"""Mass-concentration dose unit -> grams per mL."""

UNIT_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "dose_response": (("drug", "dose", "dose_unit"),),
    "combination": (("drug_a", "dose_a", "dose_unit_a"), ("drug_b", "dose_b", "dose_unit_b")),
}
"""In-vitro block kind -> its (drug, dose, unit) columns."""

KNOWN = (*DOSE_UNITS, *MASS_UNITS)


def canonical_unit(text: Any) -> str | None:
    """The dose unit ``text`` names (``µM``, ``umol/L`` -> ``uM``; ``µg/ml`` -> ``ug/mL``), or
    None where it names none of :data:`KNOWN`."""
    s = str(text).strip().replace("µ", "u").replace("μ", "u").replace(" ", "")
    if not s:
        return None
    molar = concentration_unit(s)
    if molar is not None:
        return molar
    key = s.lower()
    return next((u for u in MASS_UNITS if u.lower() == key), None)


def unit_kind(unit: str) -> str:
    """``"molar"`` or ``"mass"``."""
    return "mass" if unit in MASS_UNITS else "molar"


def unit_factor(unit: str) -> float:
    """One ``unit`` in M (molar) or g/mL (mass)."""
    return MASS_UNITS[unit] if unit in MASS_UNITS else DOSE_UNITS[unit]


def _lines(src: Any, rows: np.ndarray, limit: int = 5) -> str:
    shown = [str(src.line(r)) for r in rows[:limit]]
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return "line" + ("s " if len(rows) > 1 else " ") + ", ".join(shown) + more


def read_units(blocks: dict[str, tuple[pd.DataFrame, Any, Any]], declared: dict[str, str],
               aliases: dict[str, str], issues: list) -> dict[str, str]:
    """Each in-vitro drug's unit; every dose converted to its drug's unit (in ``blocks``).

    Parameters
    ----------
    blocks : dict
        Kind -> ``(table with canonical columns, its TableSource, the block's DataConfig)``,
        for ``dose_response`` and ``combination``. Each entry is replaced by its table with
        the doses converted to their drug's unit and the unit columns removed.
    declared : dict
        ``[data.dose_units]``: drug (a registry name, after ``aliases``) -> unit.
    aliases : dict
        ``[data.aliases]``.
    issues : list
        Receives every problem: unknown units (in the config or a column), a declared drug no
        block doses, molar against mass for one drug, a drug without a declared unit found in
        several units.

    Returns
    -------
    dict
        Drug (registry name) -> its unit, for every drug of the blocks.
    """
    decl: dict[str, str] = {}
    for d, u in declared.items():
        cu = canonical_unit(u)
        if cu is None:
            issues.append(Issue("<config>", None, f"data.dose_units.{d}", u,
                                f"unknown dose unit; expected one of {', '.join(KNOWN)}"))
        else:
            decl[d] = cu
    # drug -> unit -> [(kind, column, row positions)]
    seen: dict[str, dict[str, list[tuple[str, str, np.ndarray]]]] = {}
    for kind, (df, src, dc) in list(blocks.items()):
        df = df.copy()
        block_unit = dc.dose_unit if "dose_unit" in dc.model_fields_set else None
        names = dict(dc.columns)
        drop = []
        for drug_col, dose_col, unit_col in UNIT_COLUMNS[kind]:
            if drug_col not in df.columns or dose_col not in df.columns:
                continue
            drugs = df[drug_col].astype("string").fillna("").str.strip()
            drugs = drugs.map(lambda n: aliases.get(n, n))
            given = (df[unit_col].astype("string").fillna("").str.strip()
                     if unit_col in df.columns else pd.Series("", index=df.index))
            if unit_col in df.columns:
                drop.append(unit_col)
            canon = given.map(lambda t: canonical_unit(t) if t else "")
            bad = (given != "") & canon.isna()
            for val in pd.unique(given[bad]):
                rows = np.flatnonzero((given == val).to_numpy())
                issues.append(Issue(src.name, src.line(rows[0]), names.get(unit_col, unit_col),
                                    str(val), f"[data.{kind}] unknown dose unit ("
                                    f"{_lines(src, rows)}); expected one of {', '.join(KNOWN)}"))
            row_unit = canon.where(~bad, "").fillna("")
            dose = pd.to_numeric(df[dose_col], errors="coerce")
            new = df[dose_col].astype(object)  # read as text: numbers go in as floats
            changed = False
            for drug in pd.unique(drugs[drugs != ""]):
                on = (drugs == drug).to_numpy()
                fallback = block_unit or decl.get(drug, "M")
                on &= ~bad.to_numpy()  # an unknown unit is reported above
                units = row_unit[on].replace("", fallback)
                for u in pd.unique(units):
                    rows = np.flatnonzero(on)[(units == u).to_numpy()]
                    seen.setdefault(drug, {}).setdefault(u, []).append(
                        (kind, names.get(dose_col, dose_col), rows))
                    want = decl.get(drug)
                    if want is None or want == u or unit_kind(want) != unit_kind(u):
                        continue
                    ok = rows[np.isfinite(dose.to_numpy()[rows])]
                    new.iloc[ok] = dose.iloc[ok].to_numpy() * (unit_factor(u)
                                                               / unit_factor(want))
                    changed = True
            if changed:
                df[dose_col] = new
        blocks[kind] = (df.drop(columns=drop) if drop else df, src, dc)
    out: dict[str, str] = {}
    for drug, units in seen.items():
        want = decl.get(drug)
        found = "; ".join(f"{u} in [data.{k}] ({names_rows(blocks, k, col, rows)})"
                          for u, occ in units.items() for k, col, rows in occ)
        if want is not None:
            other = [u for u in units if unit_kind(u) != unit_kind(want)]
            if other:
                issues.append(Issue("<config>", None, f"data.dose_units.{drug}", want,
                                    f"conflicting dose units of drug {drug!r}: declared "
                                    f"{want} ({unit_kind(want)}), but doses are given in "
                                    f"{found}; molar and mass concentrations do not convert "
                                    "(no molecular weight): give the rows in a "
                                    f"{unit_kind(want)} unit (a block's own dose_unit "
                                    "applies to each of its drugs; without it, a drug's rows "
                                    "are read in its declared unit)"))
            out[drug] = want
        elif len(units) > 1:
            kinds = {unit_kind(u) for u in units}
            hint = (f"declare its unit in [data.dose_units] ({drug} = \"{next(iter(units))}\") "
                    "to convert the others to it" if len(kinds) == 1 else
                    "molar and mass concentrations do not convert (no molecular weight)")
            issues.append(Issue("<config>", None, f"data.dose_units.{drug}", None,
                                f"conflicting dose units of drug {drug!r}: {found}; a drug has "
                                f"one unit in every block: {hint}"))
            out[drug] = next(iter(units))
        else:
            out[drug] = next(iter(units))
    for d in decl:
        if d not in seen:
            issues.append(Issue("<config>", None, f"data.dose_units.{d}", d,
                                "not a drug of any in-vitro block (drugs: "
                                f"{', '.join(seen) or 'none'})"))
    return out


def names_rows(blocks: dict, kind: str, column: str, rows: np.ndarray) -> str:
    """Where rows of a block are: the file, its column and their lines."""
    src = blocks[kind][1]
    return f"{src.name}, column '{column}', {_lines(src, rows)}"


def output_unit(drug_units: dict[str, str]) -> str:
    """The unit the component families are told (a key of
    :data:`~drugbayes.data.schemas.DOSE_UNITS`): the drugs' one molar unit where they share
    one, else ``M`` (each drug's doses are then numbers in its own unit, and the summary's
    ``unit`` column is relabelled per drug: :func:`label_units`)."""
    units = set(drug_units.values())
    if len(units) == 1 and next(iter(units)) in DOSE_UNITS:
        return next(iter(units))
    return "M"


DRUG_OF_QUANTITY = {"c1": "drug_a", "log10_c1": "drug_a", "c2": "drug_b", "log10_c2": "drug_b"}
"""Combination quantities in one drug's dose unit -> the column naming that drug."""


def label_units(table: pd.DataFrame, family_unit: str, drug_units: dict[str, str]
                ) -> pd.DataFrame:
    """``table`` (a summary) with each dose-unit row's ``unit`` its drug's unit.

    A row is in a drug's dose unit where its ``unit`` is the component families' unit
    (``family_unit``) or its log10; its drug is the ``drug`` column, or ``drug_a`` / ``drug_b``
    for the checkerboards' ``c1`` / ``c2`` potencies.
    """
    if "unit" not in table.columns or all(u == family_unit for u in drug_units.values()):
        return table
    out = table.copy()
    unit = out["unit"].astype(object)
    log = f"log10 {family_unit}"
    drug = pd.Series("", index=out.index, dtype=object)
    if "drug" in out.columns:
        drug[:] = out["drug"].astype(object)
    if "quantity" in out.columns:
        for q, col in DRUG_OF_QUANTITY.items():
            on = (out["quantity"] == q) & (col in out.columns)
            if on.any():
                drug[on] = out.loc[on, col].astype(object)
    mine = drug.map(lambda d: drug_units.get(d) if isinstance(d, str) else None)
    plain = (unit == family_unit) & mine.notna()
    logged = (unit == log) & mine.notna()
    unit[plain] = mine[plain]
    unit[logged] = "log10 " + mine[logged].astype(str)
    out["unit"] = unit
    return out


def label_note(note: str, family_unit: str, drug_units: dict[str, str]) -> str:
    """A component family's note on a far dose (``dose 1e+03 M of drug 'y' ... (0.01 M)``) in
    its drug's unit."""
    fu = re.escape(family_unit)
    m = re.search(rf"dose \S+ {fu} of drug '([^']*)'", note)
    if m is None or drug_units.get(m[1], family_unit) == family_unit:
        return note
    return re.sub(rf"(?<=\d) {fu}(?=[ )])", f" {drug_units[m[1]]}", note)
