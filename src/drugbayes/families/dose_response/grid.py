"""The screen layout of ``dose_response`` data: a dense masked grid ``[cell_line, drug, point]``.

Point = dose x replicate x experiment of one cell line x drug, so per-curve parameters
broadcast over points and every reduction (over cell lines for a drug, over drugs for a cell
line) is a plain reduction, with no per-observation gathers or scatter-adds. Built from the
family's arrays (:func:`grid_from_arrays`) or simulated directly (:func:`simulate_screen`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...curves import LN10


@dataclass
class ScreenGrid:
    """A screen as a dense masked grid ``[cell_line, drug, point]`` (numpy, host side).

    Attributes
    ----------
    x : float32 [C, D, P]
        Log10 dose, centred per drug (the family's ``x``); 0 where untreated or padded.
    y : float32 [C, D, P]
        Viability fraction; 0 where padded.
    mask : bool [C, D, P]
        Observed wells.
    is_zero : bool [C, D, P]
        Untreated wells (dose 0: the curve equals its top there).
    exp : int32 [C, D, P]
        Experiment of each well.
    present : bool [C, D]
        Cell line x drug pairs with data (the family's groups).
    cell_valid : bool [C]
        Real cell lines (False for padding added to shard the grid evenly).
    half_range : float32 [D]
        Half the tested log10 dose range of each drug.
    n_exp : int
    group_index : int [C, D]
        The family's group number of each grid cell (-1 where absent).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    is_zero: np.ndarray
    exp: np.ndarray
    present: np.ndarray
    cell_valid: np.ndarray
    half_range: np.ndarray
    n_exp: int
    group_index: np.ndarray
    group_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    group_drug: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def shape(self) -> tuple[int, int, int]:
        c, d, p = self.y.shape
        return int(c), int(d), int(p)

    @property
    def n_wells(self) -> int:
        return int(self.mask.sum())

    def pad_cells(self, multiple: int) -> ScreenGrid:
        """The grid with absent cell lines appended so the cell axis divides ``multiple``."""
        c = self.y.shape[0]
        extra = (-c) % multiple
        if extra == 0:
            return self

        def pad(a, value=0):
            return np.concatenate([a, np.full((extra,) + a.shape[1:], value, a.dtype)])

        return ScreenGrid(pad(self.x), pad(self.y), pad(self.mask, False), pad(self.is_zero, False),
                          pad(self.exp), pad(self.present, False), pad(self.cell_valid, False),
                          self.half_range, self.n_exp, pad(self.group_index, -1),
                          self.group_cell, self.group_drug)

    def to_long(self) -> dict:
        """One entry per observed well: ``cell``, ``drug``, ``group``, ``x``, ``y``, ``exp``."""
        c, d, p = np.nonzero(self.mask)
        return {"cell": c.astype(np.int32), "drug": d.astype(np.int32),
                "group": self.group_index[c, d].astype(np.int32), "x": self.x[c, d, p],
                "y": self.y[c, d, p], "is_zero": self.is_zero[c, d, p],
                "exp": self.exp[c, d, p], "n_cell": int(self.cell_valid.sum()),
                "n_drug": self.y.shape[1], "n_group": int(self.present.sum()),
                "group_cell": self.group_cell, "group_drug": self.group_drug}


def grid_from_arrays(a: dict) -> ScreenGrid:
    """Dense grid from the ``dose_response`` family's arrays (curves of a group are pooled).

    Vectorised (no Python loop over curves), so a 300,000-curve screen takes seconds.
    """
    mask = np.asarray(a["mask"], bool)
    cg = np.asarray(a["curve_group"])
    curve, point = np.nonzero(mask)
    grp = cg[curve]
    order = np.argsort(grp, kind="stable")
    curve, point, grp = curve[order], point[order], grp[order]
    n_group = int(a["n_group"])
    counts = np.bincount(grp, minlength=n_group)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(grp)) - starts[grp]
    n_point = max(int(counts.max(initial=1)), 1)
    n_cell, n_drug = int(a["n_cell"]), int(a["n_drug"])
    gc, gd = np.asarray(a["group_cell"]), np.asarray(a["group_drug"])
    shape = (n_cell, n_drug, n_point)
    x = np.zeros(shape, np.float32)
    y = np.zeros(shape, np.float32)
    m = np.zeros(shape, bool)
    z = np.zeros(shape, bool)
    e = np.zeros(shape, np.int32)
    ci, di = gc[grp], gd[grp]
    x[ci, di, rank] = np.asarray(a["x"])[curve, point]
    y[ci, di, rank] = np.asarray(a["y"])[curve, point]
    m[ci, di, rank] = True
    z[ci, di, rank] = np.asarray(a["is_zero"])[curve, point]
    e[ci, di, rank] = np.asarray(a["curve_exp"])[curve]
    present = np.zeros((n_cell, n_drug), bool)
    present[gc, gd] = True
    gi = np.full((n_cell, n_drug), -1, np.int64)
    gi[gc, gd] = np.arange(n_group)
    return ScreenGrid(x, y, m, z, e, present, np.ones(n_cell, bool),
                      np.asarray(a["half_range"], np.float32), int(a["n_exp"]), gi,
                      gc.astype(np.int32), gd.astype(np.int32))


def simulate_screen(n_cell: int, n_drug: int, *, n_replicates: int = 2, n_doses: int = 9,
                    noise_sd: float = 0.05, seed: int = 0) -> tuple[ScreenGrid, dict]:
    """Simulate a screen from the model's generative process, directly as a grid (vectorised;
    a 300,000-curve screen takes seconds).

    Doses span 4 decades per drug (``x`` in [-2, 2], centred log10). Hyper-parameters are fixed
    at typical values (drug mean log10 IC50 ~ N(0, 0.8), cell-line effects sd 0.4, curve sd 0.5;
    log Hill ~ N(0, 0.3) with curve sd 0.25; logit bottom ~ N(-1.5, 1) with curve sd 0.7; log
    top sd 0.05; noise ``noise_sd``), the rest drawn from them.

    Returns
    -------
    (grid, truth)
        ``truth`` has ``log10_ic50``, ``log_hill``, ``logit_bottom``, ``log_top`` (each
        ``[C, D]``, centred log10 dose units) and the hyper-parameters.
    """
    rng = np.random.default_rng(seed)
    x1 = np.linspace(-2.0, 2.0, n_doses)
    mu = np.stack([rng.normal(0.0, 0.8, n_drug), rng.normal(0.0, 0.3, n_drug),
                   rng.normal(-1.5, 1.0, n_drug)], -1)
    cell = rng.normal(0.0, 0.4, n_cell)
    cell -= cell.mean()
    sig = np.array([0.5, 0.25, 0.7])
    G = np.empty((n_cell, n_drug, 4))
    G[..., 0] = mu[None, :, 0] + cell[:, None] + sig[0] * rng.standard_normal((n_cell, n_drug))
    G[..., 1] = mu[None, :, 1] + sig[1] * rng.standard_normal((n_cell, n_drug))
    G[..., 2] = mu[None, :, 2] + sig[2] * rng.standard_normal((n_cell, n_drug))
    G[..., 3] = 0.05 * rng.standard_normal((n_cell, n_drug))
    P = n_doses * n_replicates
    x = np.broadcast_to(np.tile(x1, n_replicates), (n_cell, n_drug, P)).astype(np.float32)
    b = 1.0 / (1.0 + np.exp(-G[..., 2:3]))
    zz = np.clip(-np.exp(G[..., 1:2]) * LN10 * (x - G[..., 0:1]), -50, 50)
    f = np.exp(G[..., 3:4]) * (b + (1 - b) / (1 + np.exp(-zz)))
    y = (f + noise_sd * rng.standard_normal(f.shape)).astype(np.float32)
    C, D = n_cell, n_drug
    grid = ScreenGrid(x.copy(), y, np.ones((C, D, P), bool), np.zeros((C, D, P), bool),
                      np.zeros((C, D, P), np.int32), np.ones((C, D), bool), np.ones(C, bool),
                      np.full(D, 2.0, np.float32), 1,
                      np.arange(C * D).reshape(C, D),
                      np.repeat(np.arange(C), D).astype(np.int32),
                      np.tile(np.arange(D), C).astype(np.int32))
    truth = {"log10_ic50": G[..., 0], "log_hill": G[..., 1], "logit_bottom": G[..., 2],
             "log_top": G[..., 3], "mu": mu, "cell": cell, "sig": sig, "sigma": noise_sd,
             "dose_lo": -2.0, "dose_hi": 2.0}
    return grid, truth


def top_doses(x, mask, is_zero) -> np.ndarray:
    """Highest treated log10 dose of every curve ``[C, D]`` from the grid's ``x``, ``mask``
    and ``is_zero`` ``[C, D, P]`` (0 for curves without one)."""
    top = np.where(np.asarray(mask) & ~np.asarray(is_zero), np.asarray(x), -np.inf).max(-1)
    return np.where(np.isfinite(top), top, 0.0).astype(np.float32)
