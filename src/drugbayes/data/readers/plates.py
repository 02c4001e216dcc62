"""Plate-reader exports and plate layouts.

A plate-reader export holds the plate's grid somewhere among header lines: a row of column
numbers ``1 .. 12`` (96 wells) or ``1 .. 24`` (384 wells) and below it one row per plate row,
``A .. H`` or ``A .. P``, each led by its letter. A layout is a long table (CSV or Excel) with
one row per well used: ``well`` (``C5`` or ``C05``) and the canonical columns of the kind
(``cell_line``, ``drug``, ``dose``, ``well_role`` = sample / vehicle / blank, ...); with a
``plate`` column it lists the wells of every plate, without one it is a design applied to every
plate. Each readings entry may set constants for its plate (``cell_line``, ``experiment``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import Issue
from ...io import Origins, TableSource
from .columns import map_columns
from .sheets import ReadProblems, Sheet, letter, read_any_table, read_cells

PLATE_SHAPES = {96: (8, 12), 384: (16, 24)}
WELL = re.compile(r"^([A-Pa-p])0*([1-9][0-9]?)$")
ROW_LETTERS = "ABCDEFGHIJKLMNOP"
EDGES_WORD = "edges"


@dataclass(frozen=True)
class Reading:
    """One readings entry of the config: a plate-reader export and what it sets."""

    path: Path
    sheet: str | None = None
    plate: str | None = None
    constants: Mapping[str, str] = field(default_factory=dict)
    layout: Path | None = None

    @property
    def name(self) -> str:
        return self.plate or self.sheet or self.path.stem


@dataclass
class Grid:
    """A plate's grid of readings as found in an export."""

    sheet: Sheet
    top: int  # row index of the header (column numbers)
    left: int  # column index of the row letters
    values: list[list[Any]]  # [plate row][plate column]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.values), len(self.values[0]) if self.values else 0

    def where(self, r: int, c: int) -> tuple[int, str]:
        """(file line, cell label) of plate well (r, c)."""
        row, col = self.top + 1 + r, self.left + 1 + c
        well = f"{ROW_LETTERS[r]}{c + 1}"
        cell = self.sheet.cell(row, col)
        return row + 1, (f"{cell} (well {well})" if cell else f"well {well}")


def parse_well(text: str) -> tuple[int, int] | None:
    """``"C5"`` / ``"c05"`` -> (2, 4); None if it is not a well name."""
    m = WELL.match(str(text).strip())
    return None if m is None else (ROW_LETTERS.index(m[1].upper()), int(m[2]) - 1)


def find_grid(sh: Sheet) -> tuple[Grid | None, list[Issue]]:
    """The first plate grid of an export: a header of consecutive column numbers from 1, then
    rows led by consecutive letters from A."""
    issues: list[Issue] = []
    for i, row in enumerate(sh.rows):
        cells = [str(v).strip() for v in row]
        for j, v in enumerate(cells):
            if v != "1" or j == 0:
                continue
            n = 0
            while j + n < len(cells) and cells[j + n] == str(n + 1):
                n += 1
            if n < 2:
                continue
            values = []
            r = 0
            while i + 1 + r < len(sh.rows):
                line = [str(x).strip() if not isinstance(x, str) else x.strip()
                        for x in sh.rows[i + 1 + r]]
                if r >= len(ROW_LETTERS) or j - 1 >= len(line) or \
                        line[j - 1].upper() != ROW_LETTERS[r]:
                    break
                vals = list(sh.rows[i + 1 + r][j:])
                extra = [x for x in vals[n:] if str(x).strip() != ""]
                if extra:
                    issues.append(Issue(sh.name, i + 2 + r, None, str(extra[0]),
                                        f"plate row {ROW_LETTERS[r]} has values beyond column "
                                        f"{n}; the grid's header numbers {n} columns",
                                        sh.cell(i + 1 + r, j + n) or None))
                values.append((vals + [""] * n)[:n])
                r += 1
            grid = Grid(sh, i, j - 1, values)
            if grid.shape not in PLATE_SHAPES.values():
                issues.append(Issue(sh.name, i + 1, None, None,
                                    f"the plate grid has {grid.shape[0]} rows (A-"
                                    f"{ROW_LETTERS[max(grid.shape[0] - 1, 0)]}) x "
                                    f"{grid.shape[1]} columns; a 96-well plate has 8 x 12 "
                                    "(rows A-H, columns 1-12), a 384-well plate 16 x 24",
                                    sh.cell(i, j) or None))
            return grid, issues
    issues.append(Issue(sh.name, None, None, sh.sheet,
                        "no plate grid found: expected a header row of column numbers 1 .. 12 "
                        "(or 1 .. 24) and below it rows A .. H (or A .. P) led by their letter"))
    return None, issues


def _is_edge(r: int, c: int, shape: tuple[int, int]) -> bool:
    return r in (0, shape[0] - 1) or c in (0, shape[1] - 1)


def _well_list(wells: Sequence[str], limit: int = 12) -> str:
    return ", ".join(wells[:limit]) + (f", ... ({len(wells)} in all)" if len(wells) > limit
                                       else "")


def read_plates(layout: Path, readings: Sequence[Reading], *, sheet: str | None,
                header_line: int | None = None,
                columns: Mapping[str, str], exclude: Sequence[str], dose_unit: str,
                response_scale: str, all_plates: Sequence[str] | None = None,
                matched: set[str] | None = None
                ) -> tuple[pd.DataFrame, TableSource, dict[str, str], list[Issue]]:
    """Join a layout with plate-reader exports into the canonical long table (one row per
    layout well, ``response`` = the well's reading, ``plate`` and ``well`` set).

    ``all_plates`` and ``matched`` serve :func:`read_plate_layouts` (several layouts): the
    plates an ``exclude`` entry may name, and the set that receives the entries that matched a
    well here (then an entry matching none is not reported here).

    Returns
    -------
    (table, source, the file's name of each canonical column, problems)
    """
    issues: list[Issue] = []
    try:
        lay, lsrc, hl = read_any_table(layout, sheet, header_line)
    except ReadProblems as p:
        issues += p.issues
        lay = None
    grids: list[Grid | None] = []
    for rd in readings:
        try:
            grid, more = find_grid(read_cells(rd.path, rd.sheet))
        except ReadProblems as p:
            grid, more = None, p.issues
        grids.append(grid)
        issues += more
    if lay is None:
        return pd.DataFrame(), TableSource(str(layout), 0), {}, issues
    if "role" in lay.columns and "well_role" not in lay.columns and "well_role" not in columns:
        columns = {**columns, "well_role": "role"}
    lay, lsrc, names, more = map_columns(lay, lsrc, hl, columns, dose_unit=dose_unit,
                                         response_scale=response_scale)
    issues += more
    if more:
        return lay, lsrc, names, issues

    def at_layout(pos: int, col: str, value: Any, msg: str) -> None:
        s, ln, c, cell = lsrc.locate(pos, col, names.get(col, col))
        issues.append(Issue(s, ln, c, None if value is None else str(value), msg, cell))

    for c in ("well",):
        if c not in lay.columns:
            issues.append(Issue(str(layout), hl or None, None, None,
                                "a plate layout needs a 'well' column (A1 .. H12 or P24; map "
                                f"it with [data.columns]; the layout has: "
                                f"{', '.join(map(str, lay.columns))})"))
    if "response" in lay.columns:
        issues.append(Issue(str(layout), hl or None, names.get("response", "response"), None,
                            "the layout has a response column; responses come from the "
                            "readings files"))
    for rd in readings:
        clash = [c for c in rd.constants if c in lay.columns]
        if clash:
            issues.append(Issue(str(rd.path), None, ", ".join(clash), None,
                                f"readings entry sets {', '.join(clash)}, which the layout "
                                "also gives; set it in one place"))
    if issues:
        return lay, lsrc, names, issues
    wells = [parse_well(w) for w in lay["well"]]
    for pos, w in enumerate(wells):
        if w is None:
            at_layout(pos, "well", lay["well"].iloc[pos],
                      "not a well name (a row letter A-P and a column number 1-24, e.g. C5)")
    per_plate = "plate" in lay.columns
    lay_plate = lay["plate"].astype(str).str.strip() if per_plate else None
    names_of = [rd.name for rd in readings]
    dup = sorted({n for n in names_of if names_of.count(n) > 1})
    for n in dup:
        issues.append(Issue(", ".join(str(r.path) for r in readings if r.name == n), None,
                            "plate", n, "two readings entries name the same plate; give each "
                            "its own plate = \"...\""))
    if per_plate:
        assert lay_plate is not None
        for pl in dict.fromkeys(lay_plate):
            if pl not in names_of:
                first = int(np.flatnonzero(lay_plate.eq(pl))[0])
                drugs = sorted({str(v) for c in lay.columns if c.startswith("drug")
                                for v in lay.loc[lay_plate.eq(pl), c] if str(v).strip()})
                at_layout(first, "plate", pl, f"layout plate {pl!r} has no readings file "
                          f"(its drugs: {', '.join(drugs) or 'none'}; readings plates: "
                          f"{', '.join(names_of)}); add it to readings or drop its rows")
        for rd in readings:
            if rd.name not in set(lay_plate):
                issues.append(Issue(str(rd.path), None, "plate", rd.name,
                                    f"plate {rd.name!r} is not in the layout's plate column "
                                    f"(plates: {', '.join(dict.fromkeys(lay_plate))}); set the "
                                    "entry's plate = \"...\""))
    # exclude list: "C5" (every plate), "P1:C5", "edges"
    excl_all: set[tuple[int, int]] = set()
    excl_plate: set[tuple[str, tuple[int, int]]] = set()
    excl_text: dict[tuple[str, tuple[int, int]], str] = {}
    excl_edges = False
    for e in exclude:
        text = str(e).strip()
        if text.lower() == EDGES_WORD:
            excl_edges = True
            continue
        plate, _, well = text.rpartition(":")
        w = parse_well(well)
        if w is None:
            issues.append(Issue("[data] exclude", None, "exclude", text,
                                "expected a well (C5), plate:well (P1:C5) or \"edges\""))
        elif plate and plate not in (all_plates or names_of):
            issues.append(Issue("[data] exclude", None, "exclude", text,
                                f"no plate {plate!r} among the readings "
                                f"({', '.join(names_of)})"))
        elif plate:
            if plate not in names_of:
                continue  # another layout's plate
            excl_plate.add((plate, w))
            excl_text[(plate, w)] = text
        else:
            excl_all.add(w)
            excl_text[("", w)] = text
    if issues:
        return lay, lsrc, names, issues

    # one output row per (layout row, plate)
    rows: list[int] = []
    plate_of: list[int] = []
    resp: list[Any] = []
    r_file: list[int] = []
    r_line: list[int] = []
    r_cell: list[str] = []
    notes: list[str] = []
    excluded: list[dict] = []
    empty_by_drug: dict[tuple[int, str], list[tuple[int, str, int, str]]] = {}
    drug_cols = [c for c in lay.columns if c.startswith("drug")]
    for k, (rd, grid) in enumerate(zip(readings, grids)):
        assert grid is not None
        shape = grid.shape
        sel = np.flatnonzero(lay_plate.eq(rd.name)) if lay_plate is not None \
            else np.arange(len(lay))
        used: set[tuple[int, int]] = set()
        n_edge = 0
        n_excl = 0
        for pos in map(int, sel):
            w = wells[pos]
            assert w is not None
            if w[0] >= shape[0] or w[1] >= shape[1]:
                at_layout(pos, "well", lay["well"].iloc[pos],
                          f"well is outside plate {rd.name!r}'s grid of {shape[0]} x "
                          f"{shape[1]} ({rd.path}): the layout does not match the plate "
                          f"({'384' if shape == (16, 24) else '96'} wells)")
                continue
            if w in used:
                at_layout(pos, "well", lay["well"].iloc[pos],
                          f"well listed twice in the layout for plate {rd.name!r}")
                continue
            used.add(w)
            line, cell = grid.where(*w)
            edge = _is_edge(w[0], w[1], shape)
            n_edge += edge
            if w in excl_all or (rd.name, w) in excl_plate or (excl_edges and edge):
                for key in (("", w), (rd.name, w)):
                    if key in excl_text and matched is not None:
                        matched.add(excl_text[key])
                    excl_text.pop(key, None)
                n_excl += 1
                excluded.append({"source": str(rd.path), "plate": rd.name,
                                 "well": f"{ROW_LETTERS[w[0]]}{w[1] + 1}",
                                 "line": line, "reason": "edge well (exclude = edges)"
                                 if excl_edges and edge and w not in excl_all
                                 and (rd.name, w) not in excl_plate else "exclude list"})
                continue
            value = grid.values[w[0]][w[1]]
            if str(value).strip() == "":
                drug = " + ".join(str(lay[c].iloc[pos]) for c in drug_cols
                                  if str(lay[c].iloc[pos]).strip())
                empty_by_drug.setdefault((k, drug), []).append((pos, cell, line,
                                                                 lay["well"].iloc[pos]))
                continue
            rows.append(pos)
            plate_of.append(k)
            resp.append(value)
            r_file.append(k)
            r_line.append(line)
            r_cell.append(cell)
        # wells of the grid outside the layout
        outside = [f"{ROW_LETTERS[r]}{c + 1}" for r in range(shape[0]) for c in range(shape[1])
                   if (r, c) not in used]
        filled = [w for w in outside if str(grid.values[ROW_LETTERS.index(w[0])][
            int(w[1:]) - 1]).strip() != ""]
        notes.append(f"plate {rd.name!r} ({rd.path.name}, {shape[0] * shape[1]}-well grid): "
                     f"{len(used)} layout wells, {n_edge} of them on the plate's edge (rows "
                     f"A/{ROW_LETTERS[shape[0] - 1]}, columns 1/{shape[1]}), {n_excl} excluded; "
                     f"{len(outside)} wells outside the layout (empty wells)"
                     + (f", {len(filled)} of them with a reading, ignored: "
                        f"{_well_list(filled)}" if filled else ""))
    for text in excl_text.values() if matched is None else ():
        issues.append(Issue("[data] exclude", None, "exclude", text,
                            "the layout uses no such well (on that plate); nothing to exclude"))
    # layout wells without a reading: one problem per drug when none of its wells was read
    read_drugs = {(k, " + ".join(str(lay[c].iloc[p]) for c in drug_cols
                                 if str(lay[c].iloc[p]).strip()))
                  for p, k in zip(rows, plate_of)}
    for (k, drug), lst in empty_by_drug.items():
        rd = readings[k]
        if drug and (k, drug) not in read_drugs:
            pos, cell, line, well = lst[0]
            issues.append(Issue(str(rd.path), None, None, drug,
                                f"drug {drug!r} of the layout ({layout}, line "
                                f"{lsrc.line(pos)}) has no reading on plate {rd.name!r}: its "
                                f"{len(lst)} well(s) {_well_list([x[3] for x in lst])} are "
                                "empty in the readings file"))
            continue
        for pos, cell, line, well in lst:
            issues.append(Issue(str(rd.path), line, None, "",
                                f"layout well {well} ({layout}, line {lsrc.line(pos)}) has no "
                                f"reading on plate {rd.name!r}; list it in [data] exclude if "
                                "it was left out on purpose", cell))
    if issues:
        return lay, lsrc, names, issues
    idx = np.array(rows, dtype=np.int64)
    out = lay.iloc[idx].reset_index(drop=True)
    taken = lsrc.take(idx, len(lay))
    r_origin = Origins(tuple(str(r.path) for r in readings), np.array(r_file, dtype=np.int64),
                       np.array(r_line, dtype=np.int64), cell=np.array(r_cell, dtype=object))
    origins = dict(taken.origins or {})
    origins["response"] = r_origin
    out["response"] = resp
    out["well"] = [f"{ROW_LETTERS[wells[p][0]]}{wells[p][1] + 1}"  # type: ignore[index]
                   for p in rows]
    if not per_plate:
        out["plate"] = [readings[k].name for k in plate_of]
        origins["plate"] = r_origin
    consts = sorted({c for rd in readings for c in rd.constants})
    for c in consts:
        out[c] = [str(readings[k].constants.get(c, "")) for k in plate_of]
        origins[c] = r_origin
    names.update({"response": "reading", "plate": names.get("plate", "plate")})
    src = TableSource(f"{layout} + {len(readings)} plate(s)", lsrc.line_offset,
                      origins=origins, notes=lsrc.notes + tuple(notes),
                      excluded=tuple(excluded))
    if excluded:
        src = replace(src, notes=src.notes + (
            f"excluded {len(excluded)} well(s): " + _well_list(
                [f"{e['plate']}:{e['well']}" for e in excluded]),))
    return out, src, names, issues


def read_plate_layouts(layout: Path | None, readings: Sequence[Reading], *,
                       sheet: str | None, columns: Mapping[str, str], exclude: Sequence[str],
                       dose_unit: str, response_scale: str, header_line: int | None = None
                       ) -> tuple[pd.DataFrame, TableSource, dict[str, str], list[Issue]]:
    """:func:`read_plates` for readings that name their own layout file (one layout per
    plate) or share ``layout``; the tables of every layout stacked."""
    groups: dict[Path, list[Reading]] = {}
    issues: list[Issue] = []
    for rd in readings:
        lay = rd.layout or layout
        if lay is None:
            issues.append(Issue(str(rd.path), None, "layout", None,
                                "no layout for this plate: set [data] layout or the entry's "
                                "layout = \"...\""))
            continue
        groups.setdefault(lay, []).append(rd)
    if issues:
        return pd.DataFrame(), TableSource("<plates>", 0), {}, issues
    if len(groups) == 1:
        lay, rds = next(iter(groups.items()))
        return read_plates(lay, rds, sheet=sheet, header_line=header_line, columns=columns,
                           exclude=exclude,
                           dose_unit=dose_unit, response_scale=response_scale)
    all_plates = [rd.name for rd in readings]
    for n in sorted({n for n in all_plates if all_plates.count(n) > 1}):
        issues.append(Issue(", ".join(str(r.path) for r in readings if r.name == n), None,
                            "plate", n, "two readings entries name the same plate; give each "
                            "its own plate = \"...\""))
    matched: set[str] = set()
    parts: list[tuple[pd.DataFrame, TableSource]] = []
    names: dict[str, str] = {}
    for lay, rds in groups.items():
        df, src, nm, more = read_plates(lay, rds, sheet=sheet, header_line=header_line,
                                        columns=columns,
                                        exclude=exclude, dose_unit=dose_unit,
                                        response_scale=response_scale, all_plates=all_plates,
                                        matched=matched)
        issues += [i for i in more if i not in issues]  # exclude problems: once
        parts.append((df, src))
        names.update(nm)
    for e in exclude if not issues else ():
        text = str(e).strip()
        if text.lower() != EDGES_WORD and text not in matched and parse_well(
                text.rpartition(":")[2]) is not None:
            issues.append(Issue("[data] exclude", None, "exclude", text,
                                "the layouts use no such well (on that plate); nothing to "
                                "exclude"))
    if issues:
        return pd.DataFrame(), TableSource("<plates>", 0), names, issues
    df = pd.concat([p[0] for p in parts], ignore_index=True).fillna("")
    src = TableSource.concat([(s, len(d)) for d, s in parts],
                             f"{len(groups)} layouts + {len(readings)} plate(s)")
    return df, src, names, issues


def grid_text(values: Sequence[Sequence[Any]], header: Sequence[str] = ()) -> str:
    """A plate grid as a plate reader writes it (``header`` lines first; tab-separated)."""
    n_cols = len(values[0])
    lines = list(header) + ["\t" + "\t".join(str(c + 1) for c in range(n_cols))]
    for r, row in enumerate(values):
        lines.append(ROW_LETTERS[r] + "\t" + "\t".join("" if v is None else str(v) for v in row))
    return "\n".join(lines) + "\n"


__all__ = ["PLATE_SHAPES", "Grid", "Reading", "find_grid", "grid_text", "letter",
           "parse_well", "read_plate_layouts", "read_plates"]
