"""Data of the ``joint`` family: named blocks read by their own families, one registry of levels.

Each block (``[data.dose_response]``, ``[data.combination]``, ``[data.xenograft]``) is read,
validated and encoded by its kind's own family; every problem of every block is reported at
once. The blocks' cell lines and drugs are then one registry: a name in two blocks is the same
level (``[data] aliases`` maps a block's name to the level it means), and a name that differs
from another block's only by case or punctuation is reported, not taken as a new level.

The shared monotherapy hierarchy is the dose-response family's, over every in-vitro cell line x
drug (:attr:`JointData.dr`: the dose-response block's data with the combination's
monotherapies added as groups without wells of their own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...data.fields import DoseScale
from ...errors import ConfigError, DataValidationError, InputError, Issue
from ..combination import FAMILY as COMBINATION
from ..dose_response import FAMILY as DOSE_RESPONSE
from ..xenograft import FAMILY as XENOGRAFT
from .doseunits import UNIT_COLUMNS, label_note, label_units, output_unit, read_units

COMPONENTS = {"dose_response": DOSE_RESPONSE, "combination": COMBINATION,
              "xenograft": XENOGRAFT}
"""The joint family's blocks: kind -> the family that reads, validates and models it."""

VIABILITY_SCALES = ("fraction", "percent")


@dataclass
class JointValidated:
    """The validated blocks (``blocks``: kind -> that family's validated table; ``source``:
    their notes for the run log, :class:`BlockNotes`)."""

    blocks: dict[str, Any]
    dropped: list[dict] = field(default_factory=list)
    source: Any = None


@dataclass
class JointData:
    """The encoded blocks and what links them.

    Attributes
    ----------
    blocks : dict
        Kind -> the block's encoded data (names after ``aliases``).
    cell_lines, drugs : list of str
        The registry: every cell line of any block; every in-vitro drug.
    dr : DoseResponseData
        The shared monotherapy hierarchy's data: the dose-response block with a group for every
        in-vitro cell line x drug (the combination's monotherapies without dose-response wells
        are groups without curves), cell lines and drugs in registry order.
    comb_mono_group : int array ``[mono]``
        The combination's monotherapies -> their ``dr`` group.
    comb_shift : float array ``[combination drug]``
        Added to a ``dr`` centred log10 dose to get the combination's centred log10 dose.
    offset_drugs : int array
        Combination drug codes with curves in both in-vitro blocks (an assay offset on log10
        IC50 each).
    link_units : list of (cell line, drug)
        The cell line x drug pairs whose in-vivo growth-rate reduction is linked to the
        in-vitro curve (xenograft lines and prediction lines); ``unit_group``/``unit_drug``
        their ``dr`` group and drug, ``unit_cell`` their link line.
    link_cells : list of str
        Lines with a linked untreated growth rate (xenograft lines, then prediction lines).
    syn_units : list of (cell line, drug a, drug b)
        Combination arms (observed or predicted): ``syn_matrix`` the combination matrix whose
        in-vitro Bliss excess they are linked to (-1: none), ``syn_ab`` the units of the two
        drugs, ``syn_slot`` whether drug a of the unit is the matrix's drug a.
    group_units, group_syn, group_cell_link : arrays per xenograft group
        Units of the group's drugs (-1 padded ``[group, 2]``), its synergy unit (-1), its link
        line.
    predict : list of dict
        ``[[predict]]`` entries (``cell_line``, ``arm``) with ``units``, ``syn`` and ``cell``
        (link line) codes; ``predict_key`` the config key they came from (``predict``, or the
        older ``model.options.predict``).
    drug_units : dict
        Drug -> its dose unit (:mod:`.doseunits`): its doses, IC50s and in-vivo concentration are
        numbers in it.
    family_unit : str
        The dose unit the component families were given (their summaries' ``unit``): the
        drugs' one molar unit, or ``M`` where the drugs' units differ (relabelled per drug by
        :meth:`label_units`).
    """

    blocks: dict[str, Any]
    cell_lines: list[str]
    drugs: list[str]
    dr: Any
    arm_drugs: dict[str, list[str]]
    comb_mono_group: np.ndarray | None = None
    comb_shift: np.ndarray | None = None
    offset_drugs: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    link_units: list[tuple[str, str]] = field(default_factory=list)
    unit_group: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    unit_drug: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    unit_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    link_cells: list[str] = field(default_factory=list)
    syn_units: list[tuple[str, str, str]] = field(default_factory=list)
    syn_matrix: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    syn_ab: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))
    syn_slot: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    group_units: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))
    group_syn: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    group_cell_link: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    predict: list[dict] = field(default_factory=list)
    predict_key: str = ""
    drug_units: dict[str, str] = field(default_factory=dict)
    family_unit: str = "M"
    concentration: dict = field(default_factory=dict)
    concentration_extra_sd: float = 1.0
    attrs: dict = field(default_factory=dict)

    @property
    def dose_unit(self) -> str:
        """The in-vitro dose unit where every drug has the same one, else ``"per drug"``
        (:attr:`drug_units`)."""
        units = set(self.drug_units.values()) or {self.dr.dose_unit}
        return next(iter(units)) if len(units) == 1 else "per drug"

    def unit_of(self, drug: str) -> str:
        """The dose unit of ``drug``."""
        return self.drug_units.get(drug, self.family_unit)

    def label_units(self, table: Any) -> Any:
        """A summary with each dose-unit row's ``unit`` its drug's unit
        (:func:`.doseunits.label_units`)."""
        return label_units(table, self.family_unit, self.drug_units)


# ----------------------------------------------------------------------------- reading
def prepare(tables: Any, data_cfg: Any) -> tuple[JointValidated, JointData]:
    """Read, validate and encode every block (every problem of every block at once).

    Parameters
    ----------
    tables : dict or None
        Kind -> a table (path or DataFrame) for that block; None or a missing kind: the
        block's own ``path`` (resolved against the config's folder).
    data_cfg : DataConfig
        ``[data]`` with its ``blocks``, ``aliases`` and ``arm_drugs``.
    """
    from ...data.readers import read_input
    from ...io import SourcedTable, read_table

    tables = dict(tables or {})
    issues: list = []
    validated: dict[str, Any] = {}
    encoded: dict[str, Any] = {}
    if "dose_response" not in data_cfg.blocks:
        issues.append(Issue("<config>", None, "data.dose_response", None,
                            "the joint model needs a [data.dose_response] block (the shared "
                            "monotherapy curves)"))
    read: dict[str, tuple[Any, Any]] = {}
    for kind, block in data_cfg.blocks.items():
        table = tables.get(kind)
        if table is None:
            if block.path is None and block.format != "plate":
                issues.append(Issue("<config>", None, f"data.{kind}.path", None,
                                    "a data path is required"))
                continue
            table = block.resolve(block.path) if block.path is not None else None
        try:
            table, dc = read_input(table, block)
            if kind in UNIT_COLUMNS:  # canonical columns now: the units are read from them
                df, src = read_table(table, dc.columns)
                table = SourcedTable(df, src)
            read[kind] = (table, dc)
        except InputError as e:
            issues += [_in_block(kind, i) for i in e.issues]
    in_vitro = {k: (t.df, t.source, dc) for k, (t, dc) in read.items() if k in UNIT_COLUMNS}
    drug_units = read_units(in_vitro, data_cfg.dose_units, data_cfg.aliases, issues)
    family_unit = output_unit(drug_units)
    read.update({k: (SourcedTable(df, src), dc) for k, (df, src, dc) in in_vitro.items()})
    failed = False
    for kind, (table, dc) in read.items():
        if kind in UNIT_COLUMNS:
            dc = dc.model_copy(update={"dose_unit": family_unit})
        try:
            validated[kind], encoded[kind] = COMPONENTS[kind].prepare(table, dc)
        except InputError as e:
            failed = True
            issues += [_in_block(kind, i) for i in e.issues]
    for kind in ("dose_response", "combination"):
        b = data_cfg.blocks.get(kind)
        if b is not None and b.response_scale not in VIABILITY_SCALES:
            issues.append(Issue("<config>", None, f"data.{kind}.response_scale",
                                b.response_scale, "the joint model links viability: "
                                f"{' or '.join(VIABILITY_SCALES)}"))
    data = None
    if not failed and "dose_response" in encoded and len(read) == len(data_cfg.blocks):
        try:  # the problems across blocks too, with the config's
            data = encode(encoded, data_cfg)
        except InputError as e:
            issues += e.issues
    else:  # a block could not be encoded: what of the config can be checked by name alone
        _name_checks(in_vitro, data_cfg, issues)
    if issues or data is None:
        raise DataValidationError(issues)
    data.drug_units = {d: drug_units.get(d, family_unit) for d in data.drugs}
    data.family_unit = family_unit
    data.attrs.update(dose_unit=data.dose_unit, dose_units="; ".join(
        f"{d}: {u}" for d, u in data.drug_units.items()))  # on the posterior DataTree
    dropped = [{**d, "reason": f"[data.{k}] {d.get('reason', '')}"}
               for k, vt in validated.items() for d in getattr(vt, "dropped", [])]
    notes = tuple(f"[data.{k}] " + label_note(n, family_unit, data.drug_units)
                  for k, vt in validated.items()
                  for n in getattr(getattr(vt, "source", None), "notes", ()))
    return JointValidated(validated, dropped, BlockNotes(notes)), data


@dataclass(frozen=True)
class BlockNotes:
    """The blocks' notes for the run log (far doses in their drug's unit), each naming its
    block."""

    notes: tuple[str, ...] = ()


def _name_checks(in_vitro: dict[str, tuple[Any, Any, Any]], data_cfg: Any, issues: list
                 ) -> None:
    """The cross-block checks that need names only (run where a block failed validation, so
    that they are reported with its problems): ``arm_drugs`` naming a drug of no in-vitro
    table, ``[[predict]]`` naming an arm ``arm_drugs`` does not list."""
    aliases = data_cfg.aliases
    drugs: set[str] = set()
    for kind, (df, _, _) in in_vitro.items():
        for col, _, _ in UNIT_COLUMNS[kind]:
            if col in df.columns:
                names = df[col].astype("string").fillna("").str.strip()
                drugs |= {aliases.get(n, n) for n in names.unique() if n}
    if len(in_vitro) == sum(k in data_cfg.blocks for k in UNIT_COLUMNS):
        for arm, ds in data_cfg.arm_drugs.items():
            for d in ds:
                if d not in drugs:
                    issues.append(Issue("<config>", None, f"data.arm_drugs.{arm}", d,
                                        "not a drug of any in-vitro block (drugs: "
                                        f"{', '.join(sorted(drugs))})"))
    control = data_cfg.blocks["xenograft"].control_arm if "xenograft" in data_cfg.blocks \
        else None
    for i, e in enumerate(data_cfg.predict):
        if e.arm not in data_cfg.arm_drugs and e.arm != control:
            issues.append(Issue("<config>", None, f"predict[{i}].arm", e.arm,
                                "not an arm of [data.arm_drugs] "
                                f"({', '.join(data_cfg.arm_drugs)})"))


def _in_block(kind: str, issue: Issue | str) -> Issue | str:
    """A block's issue, said to come from that block."""
    if isinstance(issue, str):
        return f"[data.{kind}] {issue}"
    return replace(issue, source=f"[data.{kind}] {issue.source}")


def _norm(name: str) -> str:
    """A name without case or punctuation (what near-miss names share)."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _aliased(data: Any, kind: str, aliases: dict[str, str], issues: list) -> Any:
    """The block's data with its cell lines and drugs renamed by ``aliases``."""
    changes: dict[str, Any] = {}
    for attr, what in (("cell_lines", "cell line"), ("drugs", "drug")):
        names = getattr(data, attr, None)
        if names is None:
            continue
        new = [aliases.get(n, n) for n in names]
        if len(set(new)) < len(new):
            dup = sorted({n for n in new if new.count(n) > 1})
            issues.append(Issue("<config>", None, "data.aliases", ", ".join(dup),
                                f"[data.{kind}]: aliases merge two {what}s of one block"))
        changes[attr] = new
    if hasattr(data, "pairs") and "drugs" in changes:
        changes["pairs"] = ["|".join(aliases.get(x, x) for x in p.split("|"))
                            for p in data.pairs]
    return replace(data, **changes) if changes else data


def _near_misses(blocks: dict[str, Any], issues: list) -> None:
    """Names that differ from another block's only by case or punctuation."""
    for attr, what in (("cell_lines", "cell line"), ("drugs", "drug")):
        seen: dict[str, tuple[str, str]] = {}
        for kind, d in blocks.items():
            for n in getattr(d, attr, None) or []:
                k = _norm(n)
                if k in seen and seen[k][0] != n:
                    issues.append(Issue("<config>", None, f"data.{kind}", n,
                                        f"{what} {n!r} differs from {seen[k][0]!r} of "
                                        f"[data.{seen[k][1]}] only by case or punctuation: "
                                        f"name it the same, or map it in [data.aliases] "
                                        f"({n!r} = {seen[k][0]!r})"))
                seen.setdefault(k, (n, kind))


def encode(blocks: dict[str, Any], data_cfg: Any) -> JointData:
    """The registry of levels and the link's index arrays (raises on problems across
    blocks: near-miss names, ``arm_drugs``, prediction entries)."""
    issues: list = []
    named = {n for d in blocks.values() for attr in ("cell_lines", "drugs")
             for n in getattr(d, attr, None) or []}
    for alias in data_cfg.aliases:
        if alias not in named:
            issues.append(Issue("<config>", None, f"data.aliases.{alias}", alias,
                                "names no cell line or drug of any block"))
    blocks = {k: _aliased(v, k, data_cfg.aliases, issues) for k, v in blocks.items()}
    _near_misses(blocks, issues)
    dr0, cb = blocks["dose_response"], blocks.get("combination")
    xe = blocks.get("xenograft")
    cells = list(dict.fromkeys([*dr0.cell_lines, *(cb.cell_lines if cb else []),
                                *(xe.cell_lines if xe else [])]))
    drugs = list(dict.fromkeys([*dr0.drugs, *(cb.drugs if cb else [])]))
    vitro_cells = list(dict.fromkeys([*dr0.cell_lines, *(cb.cell_lines if cb else [])]))
    dr = _monotherapy_data(dr0, cb, vitro_cells, drugs)
    group_of = {(dr.cell_lines[c], dr.drugs[d]): g
                for g, (c, d) in enumerate(zip(dr.group_cell, dr.group_drug))}
    out = JointData(blocks=blocks, cell_lines=cells, drugs=drugs, dr=dr,
                    arm_drugs={k: list(v) for k, v in data_cfg.arm_drugs.items()})
    if cb is not None:
        out.comb_mono_group = np.array([group_of[(cb.cell_lines[c], cb.drugs[d])]
                                        for c, d in zip(cb.mono_cell, cb.mono_drug)], np.int32)
        reg = np.array([drugs.index(d) for d in cb.drugs])
        out.comb_shift = (dr.dose_scale.center[reg] - cb.dose_scale.center).astype(np.float32)
        out.offset_drugs = np.array([j for j, d in enumerate(cb.drugs) if d in dr0.drugs],
                                    np.int32)
    if xe is not None:
        _link(out, xe, cb, data_cfg, group_of, issues)
    elif data_cfg.arm_drugs:
        issues.append(Issue("<config>", None, "data.arm_drugs", None,
                            "arm_drugs names xenograft arms, but there is no [data.xenograft]"))
    entries = [dict(e) for e in getattr(data_cfg, "predict", None) or []]
    if entries and xe is None:
        issues.append(Issue("<config>", None, "predict", None,
                            "[[predict]] entries need a [data.xenograft] block"))
    elif entries and issues:  # checked only: the data are not fit to index them
        issues += _check_predictions(out, entries, "predict", "<config>")[0]
    elif entries:  # checked and indexed
        try:
            add_predictions(out, entries, "<config>", key="predict")
        except ConfigError as e:
            issues += e.issues
    if issues:
        raise DataValidationError(issues)
    out.attrs = {"blocks": ", ".join(blocks)}
    return out


def _monotherapy_data(dr0: Any, cb: Any, cells: list[str], drugs: list[str]) -> Any:
    """The dose-response data over every in-vitro cell line x drug (registry codes)."""
    cmap = np.array([cells.index(c) for c in dr0.cell_lines])
    dmap = np.array([drugs.index(d) for d in dr0.drugs])
    gc = list(cmap[dr0.group_cell])
    gd = list(dmap[dr0.group_drug])
    lo, hi = list(dr0.group_log10_min), list(dr0.group_log10_max)
    center = np.zeros(len(drugs))
    half = np.zeros(len(drugs))
    center[dmap], half[dmap] = dr0.dose_scale.center, dr0.dose_scale.half_range
    if cb is not None:
        for j, d in enumerate(cb.drugs):
            k = drugs.index(d)
            if d not in dr0.drugs:
                center[k], half[k] = cb.dose_scale.center[j], cb.dose_scale.half_range[j]
        have = set(zip(gc, gd))
        for c, d in zip(cb.mono_cell, cb.mono_drug):
            key = (cells.index(cb.cell_lines[c]), drugs.index(cb.drugs[d]))
            if key in have:
                continue
            have.add(key)
            gc.append(key[0])
            gd.append(key[1])
            shift = cb.dose_scale.center[d] - center[key[1]]
            xs = np.concatenate([cb.x_a[~cb.zero_a & cb.mask & (cb.pair_a[cb.combo_pair[
                cb.matrix_combo]] == d)[:, None]], cb.x_b[~cb.zero_b & cb.mask & (
                    cb.pair_b[cb.combo_pair[cb.matrix_combo]] == d)[:, None]]]) + shift
            lo.append(float(xs.min()) if len(xs) else -1.0)
            hi.append(float(xs.max()) if len(xs) else 1.0)
    scale = DoseScale(center, half, dr0.dose_scale.unit)
    return replace(dr0, cell_lines=cells, drugs=drugs, group_cell=np.asarray(gc, np.int32),
                   group_drug=np.asarray(gd, np.int32), dose_scale=scale,
                   group_log10_min=np.asarray(lo, np.float64),
                   group_log10_max=np.asarray(hi, np.float64))


def _link(out: JointData, xe: Any, cb: Any, data_cfg: Any, group_of: dict,
          issues: list) -> None:
    """The in-vitro -> in-vivo link's units (checks ``arm_drugs`` and the control arm)."""
    arm_drugs = out.arm_drugs
    vitro = set(out.drugs)
    if xe.control_arm is None:
        issues.append(Issue("<config>", None, "data.xenograft.control_arm", None,
                            "the joint model links growth-rate reductions against the control "
                            "arm: give control_arm"))
    for arm, ds in arm_drugs.items():
        for d in ds:
            if d not in vitro:
                issues.append(Issue("<config>", None, f"data.arm_drugs.{arm}", d,
                                    "not a drug of any in-vitro block (drugs: "
                                    f"{', '.join(out.drugs)})"))
        if len(ds) > 2:
            issues.append(Issue("<config>", None, f"data.arm_drugs.{arm}", ", ".join(ds),
                                "an arm gives at most two drugs"))
        if len(set(ds)) < len(ds):
            issues.append(Issue("<config>", None, f"data.arm_drugs.{arm}", ", ".join(ds),
                                "a drug named twice"))
    for arm in xe.arms:
        if arm not in arm_drugs and arm != xe.control_arm:
            issues.append(Issue("<config>", None, "data.arm_drugs", arm,
                                "xenograft arm without an entry (list its drugs, [] for none)"))
    if issues:
        return
    arm_drugs.setdefault(xe.control_arm, [])
    from ..xenograft.design import design_of

    if design_of(xe).pdx:
        issues.append(Issue("<config>", None, "data.xenograft", None,
                            "the joint model needs replicated arms (several mice per cell line "
                            "x arm); this table has one mouse per line"))
    out.link_cells = list(xe.cell_lines)
    units: dict[tuple[str, str], int] = {}
    syns: dict[tuple[str, str, str], int] = {}

    def unit(cell: str, d: str, where: str) -> int:
        if (cell, d) not in group_of:
            issues.append(Issue("<config>", None, where, f"{cell} x {d}",
                                "the link needs this cell line's in-vitro curve of the drug "
                                "(no dose-response or checkerboard wells of it)"))
            return -1
        return units.setdefault((cell, d), len(units))

    def syn(cell: str, da: str, db: str) -> int:
        return syns.setdefault((cell, da, db), len(syns))

    n_g = xe.n_groups
    out.group_units = np.full((n_g, 2), -1, np.int32)
    out.group_syn = np.full(n_g, -1, np.int32)
    out.group_cell_link = np.asarray(xe.group_cell, np.int32)
    controls = {xe.group_cell[g] for g in range(n_g) if xe.arms[xe.group_arm[g]]
                == xe.control_arm}
    for g in range(n_g):
        cell, arm = xe.cell_lines[xe.group_cell[g]], xe.arms[xe.group_arm[g]]
        ds = arm_drugs[arm]
        if ds and xe.group_cell[g] not in controls:
            issues.append(Issue("<config>", None, "data.xenograft", cell,
                                f"cell line {cell!r} has treated arms but no {xe.control_arm!r} "
                                "arm: its reductions have no reference"))
        for k, d in enumerate(ds):
            out.group_units[g, k] = unit(cell, d, f"data.arm_drugs.{arm}")
        if len(ds) == 2:
            out.group_syn[g] = syn(cell, ds[0], ds[1])
    out.link_units = list(units)
    out.syn_units = list(syns)
    if not issues:
        _index_units(out, cb)


def _index_units(out: JointData, cb: Any) -> None:
    """Codes of the link's units and synergy units (after predictions add theirs)."""
    dr = out.dr
    group_of = {(dr.cell_lines[c], dr.drugs[d]): g
                for g, (c, d) in enumerate(zip(dr.group_cell, dr.group_drug))}
    out.unit_group = np.array([group_of[u] for u in out.link_units], np.int32)
    out.unit_drug = np.array([out.drugs.index(d) for _, d in out.link_units], np.int32)
    out.unit_cell = np.array([out.link_cells.index(c) for c, _ in out.link_units], np.int32)
    unit_of = {u: k for k, u in enumerate(out.link_units)}
    out.syn_ab = np.array([[unit_of[(c, a)], unit_of[(c, b)]] for c, a, b in out.syn_units],
                          np.int32).reshape(-1, 2)
    mat = np.full(len(out.syn_units), -1, np.int32)
    slot = np.ones(len(out.syn_units), bool)
    if cb is not None:
        for s, (c, a, b) in enumerate(out.syn_units):
            for m in range(cb.n_matrices):
                k = cb.matrix_combo[m]
                if cb.cell_lines[cb.combo_cell[k]] != c:
                    continue
                pa, pb = (cb.drugs[cb.pair_a[cb.combo_pair[k]]],
                          cb.drugs[cb.pair_b[cb.combo_pair[k]]])
                if {pa, pb} == {a, b}:
                    mat[s], slot[s] = m, pa == a
                    break
    out.syn_matrix, out.syn_slot = mat, slot


def _check_predictions(data: JointData, entries: list[dict], key: str, source: str
                       ) -> tuple[list, list[tuple[str, str, list[str]]]]:
    """The problems of prediction entries (an unknown arm, an arm without drugs, a line
    without the in-vitro curves of the arm's drugs) and the entries that are fine."""
    issues: list = []
    ok = []
    vitro_groups = {(data.dr.cell_lines[c], data.dr.drugs[d])
                    for c, d in zip(data.dr.group_cell, data.dr.group_drug)}
    vitro_cells = {c for c, _ in vitro_groups}
    for i, e in enumerate(entries):
        where = f"{key}[{i}]"
        cell, arm = e["cell_line"], e["arm"]
        ds = data.arm_drugs.get(arm)
        if ds is None:
            issues.append(Issue(source, None, f"{where}.arm", arm,
                                f"not an arm of [data.arm_drugs] ({', '.join(data.arm_drugs)})"))
            continue
        if not ds:
            issues.append(Issue(source, None, f"{where}.arm", arm,
                                "an arm without drugs: nothing to predict from in-vitro data"))
            continue
        missing = [d for d in ds if (cell, d) not in vitro_groups]
        if missing:
            if cell in vitro_cells:
                why = "no dose-response or checkerboard wells of it"
            elif cell in data.cell_lines:
                why = f"{cell!r} is only in [data.xenograft]"
            else:
                why = f"{cell!r} is in no block"
            issues.append(Issue(source, None, f"{where}.cell_line", cell,
                                "a prediction needs the line's in-vitro curve of "
                                f"{', '.join(missing)} ({why})"))
            continue
        ok.append((cell, arm, ds))
    return issues, ok


def add_predictions(data: JointData, entries: list[dict], source: str = "<config>",
                    key: str = "model.options.predict") -> None:
    """Index prediction entries (cell line x arm with in-vitro data only: top-level
    ``[[predict]]``, or its older spelling ``[[model.options.predict]]``), adding their link
    units; raises :class:`ConfigError` naming every problem."""
    xe = data.blocks.get("xenograft")
    if entries and xe is None:
        raise ConfigError([Issue(source, None, key, None,
                                 "predictions need a [data.xenograft] block")])
    issues, ok = _check_predictions(data, entries, key, source)
    if issues:
        raise ConfigError(issues)
    units = {u: k for k, u in enumerate(data.link_units)}
    syns = {s: k for k, s in enumerate(data.syn_units)}
    preds = []
    for cell, arm, ds in ok:
        if cell not in data.link_cells:
            data.link_cells.append(cell)
        uk = [units.setdefault((cell, d), len(units)) for d in ds]
        sk = syns.setdefault((cell, ds[0], ds[1]), len(syns)) if len(ds) == 2 else -1
        preds.append({"cell_line": cell, "arm": arm, "units": uk, "syn": sk,
                      "cell": data.link_cells.index(cell)})
    data.link_units = list(units)
    data.syn_units = list(syns)
    data.predict = preds
    data.predict_key = key
    _index_units(data, data.blocks.get("combination"))


def describe(vt: JointValidated, data: JointData) -> str:
    """One line per block and the link."""
    parts = [f"{k}: {COMPONENTS[k].describe(vt.blocks[k], d)}" for k, d in data.blocks.items()]
    units = ", ".join(f"{d} {u}" for d, u in data.drug_units.items())
    return (f"{len(data.cell_lines)} cell lines, {len(data.drugs)} drugs in one registry "
            f"(doses: {units}); "
            + "; ".join(parts) + f"; link: {len(data.link_units)} cell line x drug, "
            f"{len(data.syn_units)} combination arm(s), {len(data.predict)} prediction(s)")


# ----------------------------------------------------------------------------- arrays
def arrays(data: JointData) -> dict:
    """Each block's family's arrays (the dose-response family's on :attr:`JointData.dr`) and
    the link's index arrays under ``joint``."""
    from ...data.schemas import DOSE_UNITS

    a: dict[str, Any] = {"dose_response": DOSE_RESPONSE.arrays(data.dr)}
    for k in ("combination", "xenograft"):
        if k in data.blocks:
            a[k] = COMPONENTS[k].arrays(data.blocks[k])
    j: dict[str, Any] = {}
    cb = data.blocks.get("combination")
    if cb is not None:
        j.update(offset_drugs=data.offset_drugs, comb_mono_group=data.comb_mono_group,
                 comb_shift=data.comb_shift)
    if "xenograft" in data.blocks:
        xe = data.blocks["xenograft"]
        ldrugs = sorted(set(int(d) for d in data.unit_drug))
        lidx = {d: k for k, d in enumerate(ldrugs)}
        sc = data.dr.dose_scale
        conc = data.concentration
        mean = np.zeros(len(ldrugs))
        sd = np.zeros(len(ldrugs))
        extra = data.concentration_extra_sd
        for i, d in enumerate(ldrugs):
            c = conc.get(data.drugs[d])
            if c is None:
                mean[i], sd[i] = 0.0, sc.half_range[d] + extra
            else:
                mean[i] = c["log10_mean"] + np.log10(DOSE_UNITS[sc.unit]) - sc.center[d]
                sd[i] = c["sd"]
        n_u = len(data.link_units)
        syn_a = np.array([data.unit_drug[u] for u in data.syn_ab[:, 0]], int)
        syn_b = np.array([data.unit_drug[u] for u in data.syn_ab[:, 1]], int)
        # the matrix's slot a holds the unit's drug a unless syn_slot is False
        slot_a = np.where(data.syn_slot, syn_a, syn_b)
        slot_b = np.where(data.syn_slot, syn_b, syn_a)
        shift_a = np.zeros(len(slot_a), np.float32)
        shift_b = np.zeros(len(slot_b), np.float32)
        if cb is not None and data.comb_shift is not None:
            for s in range(len(slot_a)):
                if data.syn_matrix[s] >= 0:
                    shift_a[s] = data.comb_shift[cb.drugs.index(data.drugs[slot_a[s]])]
                    shift_b[s] = data.comb_shift[cb.drugs.index(data.drugs[slot_b[s]])]

        def pad(units):
            return np.where(units < 0, n_u, units).astype(np.int32)

        def syn_pad(s):
            return np.where(s < 0, len(data.syn_units), s).astype(np.int32)

        pu = np.full((len(data.predict), 2), -1, np.int32)
        for i, p in enumerate(data.predict):
            pu[i, :len(p["units"])] = p["units"]
        j.update(
            n_unit=n_u, n_syn=len(data.syn_units), n_link_cell=len(data.link_cells),
            n_ldrug=len(ldrugs), unit_ldrug=np.array([lidx[int(d)] for d in data.unit_drug],
                                                      np.int32),
            unit_group=data.unit_group, conc_mean=mean.astype(np.float32),
            conc_sd=sd.astype(np.float32),
            syn_matrix=data.syn_matrix, syn_drug_a=np.array([lidx[int(d)] for d in slot_a],
                                                            np.int32),
            syn_drug_b=np.array([lidx[int(d)] for d in slot_b], np.int32),
            syn_shift_a=shift_a, syn_shift_b=shift_b,
            group_cell=data.group_cell_link, group_units=pad(data.group_units),
            group_syn=syn_pad(data.group_syn),
            n_pred=len(data.predict),
            pred_cell=np.array([p["cell"] for p in data.predict], np.int32),
            pred_units=pad(pu), pred_syn=syn_pad(np.array([p["syn"] for p in data.predict],
                                                          np.int32)),
            tc_day=float(xe.tc_day), link_drugs=[data.drugs[d] for d in ldrugs])
    a["joint"] = j
    return a
