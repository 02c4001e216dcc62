"""The design of a xenograft study, read from the table, and the hierarchy fitted to it.

Two hierarchies:

- ``replicated`` (several mice per cell line and arm): mouse < arm < cell line < experiment, as
  described in :mod:`.model`.
- ``one_mouse_per_line`` (a "PDX clinical trial", Gao et al. 2015: many lines, each given every
  treatment in one mouse, one untreated mouse per line): chosen when a control arm is known, the
  at least one arm has a single mouse in every line.
  Each line's untreated growth rate is its own parameter (a wide prior, never shrunk toward its
  treated arms); each treatment has a population effect on the growth rate and a between-line
  spread of that effect (``rate[line, arm] ~ Normal(rate[line, control] + effect[arm],
  sd_line_effect[arm])``); regression, regrowth and Simeoni parameters have a population value
  per arm and line-level deviations.

In either hierarchy, where an arm has one mouse per line the mouse level *is* that arm's level:
those mice get no deviation from their arm (no separate mouse variance), and a new mouse of
such an arm is the arm itself. Components the design cannot identify are listed in
:attr:`Design.notes`, which are logged before sampling and recorded in the run's attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Design:
    """What the table's design lets the model identify.

    Attributes
    ----------
    mode : {"replicated", "one_mouse_per_line"}
    arm_single : bool array [arm]
        Every line of the arm has at most one mouse.
    mouse_free : bool array [mouse]
        The mouse has its own deviation from its arm group (its arm is replicated).
    group_free : bool array [group]
        New mice of the group vary around it (its arm is replicated).
    treatments : list of int
        Arm indices of the treatments (every arm but the control; ``one_mouse_per_line``).
    group_treatment : int array [group]
        Index into ``treatments`` (-1 for the control arm or in ``replicated`` mode).
    treatment_spread : bool array [treatment]
        The treatment is in two lines or more (its between-line sd is fitted).
    notes : list of str
        Design facts and what was done about components that cannot be identified.
    """

    mode: str
    arm_single: np.ndarray
    mouse_free: np.ndarray
    group_free: np.ndarray
    treatments: list[int] = field(default_factory=list)
    group_treatment: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    treatment_spread: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    notes: list[str] = field(default_factory=list)

    @property
    def pdx(self) -> bool:
        return self.mode == "one_mouse_per_line"

    @property
    def any_mouse_level(self) -> bool:
        return bool(self.mouse_free.any())

    def text(self) -> str:
        """The notes as one line."""
        return "; ".join(self.notes)


def design_of(data) -> Design:
    """Read the design of an encoded xenograft study (:class:`~drugbayes.data.encode.
    XenograftData`)."""
    n_arm, G = len(data.arms), data.n_groups
    per_group = np.bincount(np.asarray(data.mouse_group), minlength=G)
    arm_single = np.ones(n_arm, bool)
    for g in range(G):
        if per_group[g] > 1:
            arm_single[int(data.group_arm[g])] = False
    group_free = ~arm_single[np.asarray(data.group_arm)]
    mouse_free = group_free[np.asarray(data.mouse_group)]
    n_cell = len(data.cell_lines)
    ctrl = data.control_arm
    ca = data.arms.index(ctrl) if ctrl is not None and ctrl in data.arms else None
    single_names = [data.arms[a] for a in range(n_arm) if arm_single[a]]
    notes: list[str] = []
    pdx = ca is not None and bool(arm_single.any())
    mode = "one_mouse_per_line" if pdx else "replicated"
    if single_names:
        notes.append(f"one mouse per line in arm(s) {', '.join(single_names)}: the mouse level "
                     "is the arm level there (no separate mouse variance)")
    if not mouse_free.any():
        notes.append("no arm has two mice in one line: the between-mouse variance is not "
                     "identified and is not fitted (a new mouse of an arm is the arm itself)")
    treatments: list[int] = []
    trt_spread = np.zeros(0, bool)
    gtrt = np.full(G, -1, int)
    if pdx:
        assert ca is not None
        treatments = [a for a in range(n_arm) if a != ca]
        pos = {a: k for k, a in enumerate(treatments)}
        for g in range(G):
            a = int(data.group_arm[g])
            if a != ca:
                gtrt[g] = pos[a]
        notes.append(f"design one_mouse_per_line ({n_cell} lines): each line's untreated "
                     f"growth ({ctrl!r}) is its own; each treatment has a population effect "
                     "on the growth rate with between-line deviations")
        lines_with = [{int(c) for c, a in zip(data.group_cell, data.group_arm) if a == t}
                      for t in treatments]
        trt_spread = np.array([len(s) >= 2 for s in lines_with], bool)
        few = [data.arms[t] for t, ok in zip(treatments, trt_spread) if not ok]
        if few:
            notes.append(f"treatment(s) {', '.join(few)} in one line only: the between-line "
                         "sd of their effect is not identified; not fitted (the effect is "
                         "that line's)")
        ctrl_lines = {int(c) for c, a in zip(data.group_cell, data.group_arm) if a == ca}
        missing = [data.cell_lines[c] for c in range(n_cell) if c not in ctrl_lines]
        if missing:
            notes.append(f"{len(missing)} line(s) without an untreated mouse "
                         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): "
                         "their untreated rate is informed only through the treatment effects")
    elif single_names:
        notes.append("design replicated (no control_arm): arm rates pooled within line as set by "
                     "arm_pooling, without a mouse level in the single-mouse arms")
    else:
        notes.append("design replicated: mouse < arm < line < experiment")
    return Design(mode=mode, arm_single=arm_single, mouse_free=mouse_free,
                  group_free=group_free, treatments=treatments, group_treatment=gtrt,
                  treatment_spread=trt_spread, notes=notes)


def deviation_groups(a: dict) -> np.ndarray:
    """One mouse per line: the treated groups with a between-line deviation of their rate
    (their treatment is in two lines or more), in the order of ``raw_arm_rate_10d``; ``a``
    holds ``group_trt`` and ``trt_spread`` (:func:`.data.arrays`)."""
    gt = np.asarray(a["group_trt"])
    spread = np.asarray(a["trt_spread"])
    if not len(spread):
        return np.zeros(0, int)
    treated = gt >= 0
    return np.flatnonzero(treated & spread[np.where(treated, gt, 0)])
