"""Laplace approximation at the posterior mode, linear in the number of units.

What the draws mean
-------------------
At the mode ``u*`` of the log posterior in NumPyro's unconstrained space (log scales,
sum-to-zero coordinates, ...; the Jacobian of the transforms included, as in the MAP itself)
the log posterior is replaced by its second-order Taylor expansion, i.e. the posterior by the
Gaussian ``N(u*, Q^{-1})`` with ``Q = -Hessian(log p)(u*)`` (exact, by JAX). Draws of that
Gaussian are mapped back to the constrained space and through the model's deterministic
sites and the family's derived quantities, exactly as NUTS or SVI draws are; so every interval
is a quantile and every probability a frequency of the Laplace draws. It is a local
approximation: accurate where the posterior is close to Gaussian in the unconstrained space,
too narrow or misplaced where it is skewed or multimodal (hierarchical scales near zero,
IC50s beyond the tested doses).

How ``Q`` is computed
---------------------
The unconstrained coordinates are split into *plates* and a *dense* block. A plate is a set
of sites whose unconstrained arrays share a leading dimension ``n`` (one member per index: a
curve, a mouse, a combination); member ``m`` of a plate holds ``P`` coordinates (its slice of
every site of the plate). The dense block holds everything else (hyper-parameters, scales,
small vectors).

- The plate blocks: members of a plate are assumed conditionally independent given the rest,
  so that ``Q`` restricted to a plate is block-diagonal with ``n`` blocks of ``P x P``. They
  are computed with ``P`` Hessian-vector products, one per within-member coordinate, each
  probe perturbing that coordinate of *every* member at once. The assumption is then
  *checked*, with one more product whose probe has a random sign per member and coordinate:
  any coupling between members shows in it. A site that fails the check gets its own plate,
  and a site that still fails alone joins the dense block (where that stays small), so a
  wrong guess costs time, never correctness.
- The dense block: one product per coordinate gives its whole column of ``Q``, so the
  dense block ``Q_DD`` and every plate member's coupling ``Q_mD`` to it are exact.

With one plate (units given the globals) ``Q`` is an *arrowhead* matrix and is represented
exactly; the draws are then exact draws of the joint Laplace Gaussian, in linear time:
the dense block from its marginal ``N(0, S^{-1})`` with the Schur complement
``S = Q_DD - sum_m Q_Dm Q_mm^{-1} Q_mD``, then every member from its conditional
``N(-Q_mm^{-1} Q_mD d_D, Q_mm^{-1})``. So the intervals of a unit include the uncertainty of
the globals it depends on (marginal, not conditional on the globals' mode).

With several plates (e.g. curves, drugs and cell lines of a large screen, where the dense
block would otherwise be too large: above ``DENSE_MAX`` coordinates, or ``DENSE_MAX_LARGE``
for problems of more than ``LARGE`` coordinates, where each dense coordinate's product costs
a pass over the whole data) the couplings *between members of different plates* are left out
of ``Q`` (set to zero); each member's Gaussian is then conditional on the other plates'
members at the mode, given the dense block. The dense block is marginalised over the first
plate (the units: the one covering most coordinates) only, and is conditional on the other
plates' members at the mode: subtracting their couplings too would count the data twice
(a cell line's effect and its curves explain the same wells), and the Schur complement then
loses positive definiteness. This understates the variance of a member's own coordinates by
the part the other plates explain (small where a drug or cell line has many curves), and a
derived quantity that adds members of several plates (a curve's IC50 = drug mean + cell-line
effect + curve deviation) loses their correlation, which can err either way. The structure
used is recorded in the result (``structure``: ``"dense"``, ``"arrowhead"`` or
``"blockwise"``).

The products are cheap: :func:`likelihood_surrogate` replaces the log density by one with the
same gradient and Hessian at the mode that never passes over the data (the prior, plus the
likelihood's gradient and blockwise Hessian in the values it depends on: each unit's
parameters and a few globals such as the noise scale, computed once with a few products over
the data). So the dense block's products cost a pass over the units' parameters, not over the
wells.

Sites can be *held* at the mode (``hold``): the others' Gaussian is then the conditional one
given them. The MAP back-end holds the model's scalar scales (hierarchical standard
deviations and the noise scale, :data:`drugbayes.inference.map.HOLD_SCALES`): a Gaussian in a
log scale cannot follow the funnel between a scale and its non-centred members (a member's
value ``scale x z`` with ``z`` pinned near ``value / scale`` is a curved ridge), and on the
combination example it made the matrix-level synergy intervals 5-7 times NUTS's width.
With ``marginal=True`` (what the MAP back-end uses) the held values are not the joint mode's
but the mode of their own marginal posterior as Laplace approximates it,
``log p(u*(h), h) - 1/2 log det Q(h)`` (:func:`_marginal_held`): the joint mode of a scale
sits near its prior mode where few members inform it (in non-centred coordinates the
members' standard normals absorb the data at any scale), and held there the combination
example's experiment scale of beta was about 6 times the marginal mode and every
combination-level interval (beta, e3, the excesses) about twice NUTS's width. Holding a
scale at a single value still leaves out its own uncertainty: intervals of quantities that
depend mostly on a poorly known scale come out narrower than NUTS's.

The centre of the Gaussian is the optimiser's last point moved by one Newton step with the
same ``Q`` (the maximum of the quadratic model), so that an optimiser stopped just short of
the mode does not shift every interval; a step longer than ``sqrt(d) + 3`` in the Gaussian's
own metric is not taken and is reported (the optimiser has not converged).

A member whose block is not positive definite (the mode is not a maximum in its directions,
or the block is singular to float32 precision) is reported by its label; its draws are NaN
(its intervals and probabilities are left empty) and it is left out of the Schur complement.
A dense block that is not positive definite is reported by its worst coordinates and the
whole approximation is refused (the run keeps its point estimate only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .settings import log

__all__ = ["DENSE_MAX", "MAX_DRAW_VALUES", "MIN_DRAWS_AT_SCALE", "LaplaceFit", "Plate",
           "draws_at_scale", "laplace", "likelihood_surrogate", "monte_carlo_error"]

DENSE_MAX = 256
"""Most coordinates of the dense block before plates are split off it (small problems)."""
LARGE = 20_000
"""Problems with more coordinates than this are large: their dense block is kept to
``DENSE_MAX_LARGE`` coordinates, since each dense coordinate costs one Hessian-vector product
over the whole data set (a few gradients) and the MAP itself is 500 gradients."""
DENSE_MAX_LARGE = 32
HARD_DENSE_MAX = 4096
"""Most coordinates of the dense block at all (above it the approximation is refused)."""
PLATE_WIDTH_MAX = 64
"""Most coordinates per plate member."""
PROBE_BATCH = 8
"""Hessian-vector products evaluated together (memory: this many gradients at once)."""
CHECK_RTOL = 1e-3
"""Relative size of the coupling between members above which a plate is refused."""
EIG_RTOL = 1e-6
"""A block whose smallest eigenvalue is below this fraction of its largest is singular."""
SURROGATE_DENSE_MAX = 64
"""Most coordinates of the likelihood's dense block for :func:`likelihood_surrogate`."""


MAX_DRAW_VALUES = 10_000_000
"""At most about this many values (draws x unconstrained coordinates) of Laplace draws are
made (:func:`draws_at_scale`): every stage after the mode (the draws, the deterministic sites,
the derived quantities, their quantiles, the per-unit checks) costs draws x units, so with a
fixed number of draws a large screen's summaries cost many times its MAP (on 10,000 simulated
curves, 1,000 draws: summaries and checks about 20 times the point MAP's fit,
``benchmarks/results/scale/map_laplace_scale_cpu.md``). Above it fewer draws than
``laplace_draws`` are made, never fewer than :data:`MIN_DRAWS_AT_SCALE`; the Monte Carlo error
of the quantiles and probabilities that follows is stated (:func:`monte_carlo_error`)."""
MIN_DRAWS_AT_SCALE = 200
"""Fewest Laplace draws :func:`draws_at_scale` gives (unless fewer are asked for): the ends of
a 95% interval then have a Monte Carlo sd of about 0.19 posterior sd, a probability at most
0.035."""


def draws_at_scale(requested: int, n_coordinates: int) -> int:
    """The number of Laplace draws made for ``requested`` (``laplace_draws``) on a problem of
    ``n_coordinates`` unconstrained coordinates: all of them up to :data:`MAX_DRAW_VALUES`
    values, fewer above (at least :data:`MIN_DRAWS_AT_SCALE`)."""
    fit = MAX_DRAW_VALUES // max(int(n_coordinates), 1)
    return int(min(requested, max(MIN_DRAWS_AT_SCALE, fit)))


def monte_carlo_error(n_draws: int, interval_prob: float = 0.95) -> dict:
    """The Monte Carlo error of summaries of ``n_draws`` independent draws (the Laplace draws
    are independent): the sd of an estimated probability (at most ``0.5 / sqrt(n)``, at
    ``p = 0.5``), and, for a normal posterior, the sd of the median and of an end of the
    central ``interval_prob`` interval in posterior sds (``sqrt(q (1 - q) / n) / phi(z_q)``,
    the asymptotic sd of a sample quantile)."""
    from scipy.stats import norm

    n = max(int(n_draws), 1)
    q = (1.0 - interval_prob) / 2.0
    end = float(np.sqrt(q * (1.0 - q) / n) / norm.pdf(norm.ppf(q)))
    med = float(np.sqrt(0.25 / n) / norm.pdf(0.0))
    prob = float(0.5 / np.sqrt(n))
    return {"n_draws": int(n_draws), "probability_sd_at_most": prob,
            "median_sd_in_posterior_sds": med, "interval_prob": interval_prob,
            "interval_end_sd_in_posterior_sds": end,
            "note": (f"{n_draws} independent draws: a probability's Monte Carlo sd is at most "
                     f"{prob:.3f}; for a normal posterior the median's is {med:.3f} and an "
                     f"end of the central {interval_prob:.0%} interval's {end:.3f} posterior "
                     "sd")}


@dataclass
class Plate:
    """Sites sharing a leading unconstrained dimension ``n``: one member per index."""

    n: int
    sites: list[str]
    widths: list[int]  # coordinates per member of each site

    @property
    def width(self) -> int:
        return sum(self.widths)


@dataclass
class LaplaceFit:
    """The Laplace Gaussian and what was found building it.

    Attributes
    ----------
    draws : dict or None
        Unconstrained draws, site -> ``(n_draws, *shape)`` (NaN for refused members);
        ``None`` where the approximation was refused.
    structure : str
        ``"dense"``, ``"arrowhead"`` (exact, one plate) or ``"blockwise"`` (several plates,
        their mutual couplings left out).
    plates : list of Plate
    dense : list of str
        The dense block's sites.
    bad_members : list of str
        Labels of plate members whose block is not positive definite (draws NaN).
    refused : str or None
        Why no draws were made.
    marginal_sd : dict
        Site -> ``shape`` marginal standard deviations of the Gaussian (unconstrained);
        computed on first use (on a large screen it costs as much as the Schur complement:
        ``n P D^2`` for ``n`` members of ``P`` coordinates and ``D`` dense coordinates, and
        nothing in a run reads it).
    n_products : int
        Hessian-vector products evaluated.
    seconds : float
    """

    draws: dict | None
    structure: str
    plates: list[Plate]
    dense: list[str]
    bad_members: list[str] = field(default_factory=list)
    refused: str | None = None
    sd_of: Callable[[], dict] | None = field(default=None, repr=False)
    """Computes :attr:`marginal_sd` (what it needs is kept until then)."""
    n_products: int = 0
    seconds: float = 0.0
    split: list[str] = field(default_factory=list)
    n_dense: int = 0
    newton: dict = field(default_factory=dict)
    step: dict | None = None
    """The Newton step ``Q^{-1} grad`` at ``u`` (site -> array), taken or not."""
    held: list[str] = field(default_factory=list)
    """Sites held at the mode (the others' Gaussian is conditional on them)."""
    held_values: dict = field(default_factory=dict)
    """Their (unconstrained) values."""
    marginal: dict | None = None
    """How the held values were moved to their marginal mode (``laplace(marginal=True)``)."""
    logdet: float = float("nan")
    """``log det Q`` (in the plate / dense structure used)."""
    sd_fixed: dict = field(default_factory=dict, repr=False)
    """Sites whose marginal sd is known without computation (held sites: 0)."""

    @property
    def marginal_sd(self) -> dict:
        """Site -> marginal standard deviations of the Gaussian (unconstrained)."""
        if self.sd_of is not None:
            self.sd_fixed = {**self.sd_of(), **self.sd_fixed}
            self.sd_of = None
        return self.sd_fixed

    def info(self) -> dict:
        """JSON-ready description (for ``diagnostics.json``)."""
        return {"structure": self.structure, "refused": self.refused,
                "plates": [{"members": p.n, "sites": p.sites, "coordinates_per_member": p.width}
                           for p in self.plates],
                "dense_sites": self.dense,
                "dense_coordinates": self.n_dense,
                "not_positive_definite": list(self.bad_members),
                "n_not_positive_definite": len(self.bad_members),
                "hessian_vector_products": self.n_products, "seconds": self.seconds,
                "sites_split_after_check": list(self.split), "newton_step": self.newton,
                "held_at_mode": list(self.held), "held_values": self.held_values,
                "held_at_marginal_mode": self.marginal}


def _size(shape: tuple) -> int:
    return int(math.prod(shape))


def choose_structure(ushapes: dict[str, tuple], dense_max: int = DENSE_MAX,
                     own_plate: frozenset[str] = frozenset(),
                     forced_dense: frozenset[str] = frozenset()) -> tuple[list[Plate], list[str]]:
    """Split the sites into plates and a dense block.

    While the dense block holds more than ``dense_max`` coordinates, the leading dimension that
    covers most of its coordinates becomes a plate (sites in ``own_plate`` get a plate of their
    own; sites in ``forced_dense`` stay dense).
    """
    dense = list(ushapes)
    plates: list[Plate] = []
    while sum(_size(ushapes[s]) for s in dense) > dense_max:
        cand: dict[tuple, list[str]] = {}
        for s in dense:
            sh = ushapes[s]
            if s in forced_dense or len(sh) < 1 or sh[0] < 2:
                continue
            w = _size(sh[1:])
            if w > PLATE_WIDTH_MAX:
                continue
            key = (sh[0], s) if s in own_plate else (sh[0], "")
            cand.setdefault(key, []).append(s)
        if not cand:
            break
        key = max(cand, key=lambda k: (sum(_size(ushapes[s]) for s in cand[k]), k[0]))
        sites = cand[key]
        widths = [_size(ushapes[s][1:]) for s in sites]
        if sum(widths) > PLATE_WIDTH_MAX:  # keep the widest sites that fit
            keep, tot = [], 0
            for s, w in sorted(zip(sites, widths), key=lambda t: -t[1]):
                if tot + w <= PLATE_WIDTH_MAX:
                    keep.append(s)
                    tot += w
            sites = [s for s in sites if s in keep]
            widths = [_size(ushapes[s][1:]) for s in sites]
        plates.append(Plate(key[0], sites, widths))
        dense = [s for s in dense if s not in sites]
    return plates, dense


def _member_labels(plate: Plate, labels: dict[str, list[str]]) -> list[str]:
    for s in plate.sites:
        lab = labels.get(s)
        if lab is not None and len(lab) == plate.n:
            return [str(x) for x in lab]
    name = plate.sites[0] if len(plate.sites) == 1 else "/".join(plate.sites)
    return [f"{name}[{m}]" for m in range(plate.n)]


def _dense_labels(dense: list[str], ushapes: dict[str, tuple],
                  labels: dict[str, list[str]]) -> list[str]:
    out = []
    for s in dense:
        sh = ushapes[s]
        lab = labels.get(s)
        for idx in np.ndindex(*sh) if sh else [()]:
            if not idx:
                out.append(s)
            elif lab is not None and len(idx) == 1 and len(lab) == sh[0]:
                out.append(f"{s}[{lab[idx[0]]}]")
            else:
                out.append(f"{s}[{','.join(map(str, idx))}]")
    return out


def hvp_program(log_density) -> Callable:
    """One compiled program of ``PROBE_BATCH`` products ``(grad, Q v)`` of
    ``log_density(u, held)`` at a point ``u`` given ``held`` (both arguments, so that the
    same program serves every point)."""
    grad = jax.grad(log_density)

    def qv(mode, held, v):
        g, t = jax.jvp(lambda x: grad(x, held), (mode,), (v,))
        return g, jax.tree.map(jnp.negative, t)

    return jax.jit(jax.vmap(qv, in_axes=(None, None, 0)))


class _Products:
    """Products of the negative Hessian at ``u`` with probe vectors.

    One compiled program (``PROBE_BATCH`` products at once, vectorised) serves every probe:
    compiling the second derivative of a model is the expensive part on a CPU, so probes
    are built and their products read on the host. ``log_density`` is ``f(u)``, or a
    program from :func:`hvp_program` with ``held`` its second argument.
    """

    def __init__(self, log_density, u: dict, held: dict | None = None):
        self.u = {k: jnp.asarray(v, jnp.float32) for k, v in u.items()}
        self.shapes = {k: tuple(v.shape) for k, v in self.u.items()}
        if held is None:
            self._program = hvp_program(lambda x, _: log_density(x))
            self.held: dict = {}
        else:
            self._program = log_density
            self.held = held
        self.count = 0
        self.grad: dict[str, np.ndarray] | None = None

    def _run(self, batch):
        return self._program(self.u, self.held, batch)

    def apply(self, probes: list[dict], extract) -> list:
        """``extract(Q v)`` for every probe ``v`` (site -> array; absent sites are zero)."""
        out = []
        for i in range(0, len(probes), PROBE_BATCH):
            chunk = probes[i:i + PROBE_BATCH]
            batch = {k: np.zeros((PROBE_BATCH, *sh), np.float32) for k, sh in self.shapes.items()}
            for j, pr in enumerate(chunk):
                for k, v in pr.items():
                    batch[k][j] = v
            g, res = self._run(batch)
            if self.grad is None:  # the gradient at the mode comes with every product
                self.grad = {k: np.asarray(v[0], np.float64) for k, v in g.items()}
            res = {k: np.asarray(v, np.float64) for k, v in res.items()}
            out += [extract({k: v[j] for k, v in res.items()}) for j in range(len(chunk))]
        self.count += len(probes)
        return out


def _plate_rows(out: dict, p: Plate) -> np.ndarray:
    return np.concatenate([out[s].reshape(p.n, -1) for s in p.sites], axis=1)


def _dense_rows(out: dict, dense: list[str]) -> np.ndarray:
    if not dense:
        return np.zeros(0)
    return np.concatenate([out[s].reshape(-1) for s in dense])


def _plate_probe(p: Plate, col: np.ndarray, shapes: dict) -> dict:
    """The probe with ``col`` (n, P) on the plate's coordinates."""
    offs = np.cumsum([0, *p.widths])
    return {s: col[:, o:o + w].reshape(shapes[s])
            for s, o, w in zip(p.sites, offs[:-1], p.widths, strict=True)}


def _dense_probe(k: int, dense: list[str], shapes: dict) -> dict:
    o = 0
    for s in dense:
        size = _size(shapes[s])
        if k < o + size:
            v = np.zeros(size, np.float32)
            v[k - o] = 1.0
            return {s: v.reshape(shapes[s])}
        o += size
    raise IndexError(k)


def _blocks_and_checks(prod: _Products, plates: list[Plate], key
                       ) -> tuple[list[np.ndarray], list[dict[str, float]]]:
    """Per plate: the member blocks ``Q_mm`` (n, P, P) from ``P`` all-member probes, and per
    site the relative size of the coupling between members (0: none), from one probe with a
    random sign per member and coordinate."""
    probes, signs = [], []
    for i, p in enumerate(plates):
        for j in range(p.width):
            col = np.zeros((p.n, p.width), np.float32)
            col[:, j] = 1.0
            probes.append((i, _plate_probe(p, col, prod.shapes)))
        sg = np.asarray(jax.random.rademacher(jax.random.fold_in(key, i), (p.n, p.width)),
                        np.float32)
        signs.append(sg)
        probes.append((i, _plate_probe(p, sg, prod.shapes)))
    rows = prod.apply([v for _, v in probes], lambda out: out)
    blocks, checks = [], []
    k = 0
    for i, p in enumerate(plates):
        cols = [_plate_rows(rows[k + j], p) for j in range(p.width)]  # [j]: (n, P) = Q_m[:, j]
        b = np.stack(cols, axis=-1) if cols else np.zeros((p.n, 0, 0))
        b = 0.5 * (b + np.swapaxes(b, 1, 2))
        got = _plate_rows(rows[k + p.width], p)
        k += p.width + 1
        want = np.einsum("mij,mj->mi", b, signs[i].astype(np.float64))
        rel = {}
        offs = np.cumsum([0, *p.widths])
        for s, o, w in zip(p.sites, offs[:-1], p.widths, strict=True):
            res = np.linalg.norm(got[:, o:o + w] - want[:, o:o + w])
            ref = np.linalg.norm(want[:, o:o + w]) + np.linalg.norm(got[:, o:o + w])
            rel[s] = float(res / ref) if ref > 0 else 0.0
        blocks.append(b)
        checks.append(rel)
    return blocks, checks


def _dense_columns(prod: _Products, plates: list[Plate], dense: list[str]
                   ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Q_DD`` (D, D) and, per plate, ``Q_mD`` (n, P, D): one probe per dense coordinate."""
    nd = sum(_size(prod.shapes[s]) for s in dense)
    if nd == 0:
        return np.zeros((0, 0)), [np.zeros((p.n, p.width, 0)) for p in plates]
    qdd = np.empty((nd, nd))
    cross = [np.empty((p.n, p.width, nd)) for p in plates]
    buffer: list[dict] = []
    done = 0

    def flush() -> None:  # columns done:done+len(buffer) of Q, written in place in blocks
        nonlocal done
        k = slice(done, done + len(buffer))
        qdd[:, k] = np.stack([_dense_rows(out, dense) for out in buffer], axis=1)
        for c, p in zip(cross, plates, strict=True):
            c[:, :, k] = np.stack([_plate_rows(out, p) for out in buffer], axis=-1)
        done += len(buffer)
        buffer.clear()

    def put(out: dict) -> None:
        buffer.append(out)
        if len(buffer) == DENSE_FLUSH:
            flush()

    prod.apply([_dense_probe(k, dense, prod.shapes) for k in range(nd)], put)
    if buffer:
        flush()
    return qdd, cross


DENSE_FLUSH = 32
"""Dense columns of ``Q`` written at once into the members' ``(n, P, D)`` couplings (a
column alone is a strided write of every member; a block of them is contiguous per member)."""


def _not_pd(blocks: np.ndarray) -> np.ndarray:
    """Members whose symmetric ``(n, P, P)`` block is not (numerically) positive definite."""
    if blocks.shape[0] == 0 or blocks.shape[1] == 0:
        return np.zeros(blocks.shape[0], bool)
    finite = np.isfinite(blocks).all(axis=(1, 2))
    ev = np.linalg.eigvalsh(np.where(finite[:, None, None], blocks, 0.0))
    top = np.max(np.abs(ev), axis=1)
    return ~finite | ~(ev[:, 0] > EIG_RTOL * top) | ~(top > 0)


def laplace(log_density, u: dict, ushapes: dict[str, tuple], n_draws: int, rng_key,
            labels: dict[str, list[str]] | None = None, dense_max: int | None = None,
            quiet: bool = False, hold: frozenset[str] = frozenset(),
            marginal: bool = False) -> LaplaceFit:
    """The Laplace approximation of a log density at ``u`` (its mode), and draws of it.

    Parameters
    ----------
    log_density : callable(dict) -> scalar
        Log posterior of the unconstrained values (Jacobian included).
    u : dict
        The mode, site -> unconstrained array.
    ushapes : dict
        Site -> unconstrained shape (the order of the sites).
    n_draws : int
        Draws of the Gaussian.
    rng_key : jax key
    labels : dict, optional
        Site -> labels of its leading dimension (plate members are reported by them).
    dense_max : int, optional
        Most coordinates of the dense block before plates are split off it; default
        ``DENSE_MAX``, or ``DENSE_MAX_LARGE`` for problems of more than ``LARGE`` coordinates.
    quiet : bool
        Log the non-positive-definite units and a long Newton step at debug level.
    hold : set of str
        Sites held at their value in ``u``: the Gaussian of the others is the conditional one
        given them (the precision restricted to the other coordinates), and every draw of a
        held site is its value in ``u`` (marginal sd 0).
    marginal : bool
        Hold the held scalar sites at the mode of their Laplace-approximate marginal
        posterior instead of their value in ``u`` (:func:`_marginal_held`).

    Returns
    -------
    LaplaceFit
    """
    hold = frozenset(hold) & frozenset(ushapes)
    if not hold:
        return _laplace(hvp_program(lambda x, _: log_density(x)), u, {}, ushapes, n_draws,
                        rng_key, labels, dense_max, quiet)
    held = {k: jnp.asarray(u[k], jnp.float32) for k in sorted(hold)}
    free = {k: sh for k, sh in ushapes.items() if k not in hold}
    uf = {k: np.asarray(u[k], np.float64) for k in free}

    def joint(v, h):
        return log_density({**v, **h})

    program = hvp_program(joint)
    moved = None
    if marginal:
        held0, uf0 = held, uf
        held, uf, moved = _marginal_held(program, jax.jit(joint), uf, held, free, rng_key,
                                         labels, dense_max)
    fit = _laplace(program, uf, held, free, n_draws, rng_key, labels, dense_max, quiet)
    if marginal and fit.refused is not None:  # refused there: the values as given
        moved = {**(moved or {}), "refused_there": fit.refused, "used": False}
        held, uf = held0, uf0
        fit = _laplace(program, uf, held, free, n_draws, rng_key, labels, dense_max, quiet)
    if fit.draws is not None and n_draws:
        fit.draws.update({k: np.broadcast_to(np.asarray(v), (n_draws, *v.shape)).copy()
                          for k, v in held.items()})
    fit.sd_fixed.update({k: np.zeros(ushapes[k]) for k in hold})
    fit.held = sorted(hold)
    fit.held_values = {k: float(np.asarray(v)) if np.ndim(v) == 0 else np.asarray(v).tolist()
                       for k, v in held.items()}
    fit.marginal = moved
    return fit


MARGINAL_MAX_COORDINATES = 5000
"""Problems with more unconstrained coordinates than this keep their held values (the MAP
back-end's ``marginal`` applies up to this size): the search costs ``2 K + 2`` Hessians per
iteration, and on 2,000 simulated curves (8,229 coordinates) its 25 Hessians took 493 s
against 10 s for the MAP on the loaded 2-core benchmark machine
(``benchmarks/results/scale/map_laplace_scale_cpu.md``), while a scale governing thousands
of units is pinned by them."""
MARGINAL_STEP = 0.1
"""Finite-difference step (unconstrained units, i.e. log scale) of :func:`_marginal_held`."""
MARGINAL_ITERATIONS = 2
MARGINAL_MAX_MOVE = 1.5
"""Largest move of a held value per iteration (log scale: a factor of about 4.5)."""


def _marginal_held(program, value, uf: dict, held: dict, free: dict, key, labels,
                   dense_max) -> tuple[dict, dict, dict]:
    """Move the held values to the mode of their Laplace-approximate marginal posterior.

    The joint mode of a scale and the members it governs is not where the scale's own
    posterior peaks: in non-centred coordinates the members' standard normals absorb the
    data at any scale and the joint mode sits near the scale's prior mode (too large where
    few members inform it: the combination example's experiment scale of beta at about twice
    the value NUTS finds, and every combination-level interval about twice NUTS's width),
    and in centred coordinates it collapses towards 0. The marginal of the held values ``h``
    is approximated as Laplace's
    ``m(h) = log p(u*(h), h) - 1/2 log det Q(h)``, with ``u*(h)`` the others' conditional
    mode (one Newton step: the quadratic model's gain ``1/2 |step|^2`` in the posterior's
    metric) and ``Q(h)`` their negative Hessian (the same plate / dense structure as the
    draws: leaving the couplings between plates out of ``log det Q`` to save products moved
    the combination example's scales far past their marginal mode). Its maximum is
    approached by ``MARGINAL_ITERATIONS`` coordinate-wise Newton steps
    on central finite differences of ``m`` (step ``MARGINAL_STEP``, each move at most
    ``MARGINAL_MAX_MOVE``; a value where ``m`` is not concave is not moved; a move that lowers
    ``m`` is halved, then dropped). Costs ``2 K + 2`` Hessians (``K`` held scalars) per
    iteration.
    """
    t0 = time.perf_counter()
    names = [k for k in held if np.ndim(held[k]) == 0]
    f32 = jnp.float32
    n_hessians = 0
    start = {k: float(held[k]) for k in names}

    def m_at(h: dict, u: dict) -> tuple[float, LaplaceFit]:
        nonlocal n_hessians
        n_hessians += 1
        f = _laplace(program, u, h, free, 0, key, labels, dense_max, quiet=True)
        if f.refused is not None or not np.isfinite(f.logdet):
            return float("nan"), f
        val = float(value({k: jnp.asarray(v, f32) for k, v in u.items()}, h))
        gain = 0.5 * f.newton.get("length", 0.0) ** 2 if f.newton.get("taken") else 0.0
        return val + gain - 0.5 * f.logdet, f

    def centred(u: dict, f: LaplaceFit) -> dict:
        if f.step is None or not f.newton.get("taken"):
            return u
        return {k: np.asarray(v, np.float64) + f.step[k] for k, v in u.items()}

    steps: list[dict] = []
    uf_start = uf
    for _ in range(MARGINAL_ITERATIONS):
        m0, f0 = m_at(held, uf)  # at the others' conditional mode: the differences' centre
        if not np.isfinite(m0):
            break
        uf = centred(uf, f0)
        move = {}
        for k in names:
            plus, _ = m_at({**held, k: held[k] + MARGINAL_STEP}, uf)
            minus, _ = m_at({**held, k: held[k] - MARGINAL_STEP}, uf)
            g = (plus - minus) / (2 * MARGINAL_STEP)
            c = (plus - 2 * m0 + minus) / MARGINAL_STEP**2
            if not (np.isfinite(g) and np.isfinite(c)):
                continue
            if not c < 0:
                continue
            d = -g / c
            move[k] = float(np.clip(d, -MARGINAL_MAX_MOVE, MARGINAL_MAX_MOVE))
        if not move or max(abs(v) for v in move.values()) < 1e-3:
            break
        for scale in (1.0, 0.5):
            cand = {**held, **{k: held[k] + f32(scale * d) for k, d in move.items()}}
            m1, f1 = m_at(cand, uf)
            if np.isfinite(m1) and m1 >= m0:
                steps.append({"log_marginal_gain": m1 - m0,
                              "moves": {k: scale * d for k, d in move.items()}})
                held, uf = cand, centred(uf, f1)
                break
        else:
            break
    if not steps:  # nothing moved: the caller's point (a Newton step alone may leave the
        uf = uf_start  # region where the Hessian is positive definite)
    info = {"from": start, "to": {k: float(held[k]) for k in names}, "iterations": steps,
            "hessians": n_hessians, "seconds": time.perf_counter() - t0}
    return held, uf, info


def _laplace(program, u: dict, held: dict, ushapes: dict[str, tuple], n_draws: int,
             rng_key, labels: dict[str, list[str]] | None = None,
             dense_max: int | None = None, quiet: bool = False) -> LaplaceFit:
    """The Laplace approximation of ``program``'s log density at ``u`` given ``held``."""
    t0 = time.perf_counter()
    labels = labels or {}
    if dense_max is None:
        total = sum(_size(sh) for sh in ushapes.values())
        dense_max = DENSE_MAX if total <= LARGE else DENSE_MAX_LARGE
    k_check, k_draw = jax.random.split(rng_key)
    own: set[str] = set()
    forced: set[str] = set()
    split: list[str] = []
    prod = _Products(program, u, held)
    for _ in range(4):
        plates, dense = choose_structure(ushapes, dense_max, frozenset(own), frozenset(forced))
        n_dense = sum(_size(ushapes[s]) for s in dense)
        if n_dense > HARD_DENSE_MAX:
            return LaplaceFit(None, "refused", plates, dense, refused=(
                f"the dense block would hold {n_dense} coordinates (sites "
                f"{', '.join(dense[:8])}{'...' if len(dense) > 8 else ''}); the posterior does "
                f"not factorise into plates of at most {PLATE_WIDTH_MAX} coordinates per member"),
                seconds=time.perf_counter() - t0)
        blocks, checks = _blocks_and_checks(prod, plates, k_check)
        coupled = [(s, r, len(p.sites)) for p, rel in zip(plates, checks, strict=True)
                   for s, r in rel.items() if r > CHECK_RTOL]
        if not coupled:
            break
        for s, r, n_sites in coupled:
            split.append(f"{s} ({r:.2g})")
            if n_sites > 1 and s not in own:
                own.add(s)
            else:
                forced.add(s)
        log.info("laplace: members of %s are coupled; restructuring",
                 ", ".join(s for s, _, _ in coupled))
    else:
        return LaplaceFit(None, "refused", plates, dense, refused=(
            "the posterior's plates kept coupling between members after 4 restructurings: "
            + ", ".join(split)), seconds=time.perf_counter() - t0, split=split)

    qdd, cross = _dense_columns(prod, plates, dense)
    qdd = 0.5 * (qdd + qdd.T)
    structure = "dense" if not plates else ("arrowhead" if len(plates) == 1 else "blockwise")
    bad_labels: list[str] = []
    chol_t: list[np.ndarray] = []
    solved: list[np.ndarray] = []
    bad_masks: list[np.ndarray] = []
    schur = qdd.copy()
    n_cols = schur.shape[0]
    logdet = 0.0
    for p, b, c in zip(plates, blocks, cross, strict=True):
        bad = _not_pd(b)
        if bad.any():
            names = _member_labels(p, labels)
            bad_labels += [names[m] for m in np.flatnonzero(bad)]
        good_b = np.where(bad[:, None, None], np.eye(p.width), b)
        lch = np.linalg.cholesky(good_b)  # (n, P, P) lower
        logdet += 2.0 * float(np.sum(np.log(np.diagonal(lch, axis1=1, axis2=2))))
        w = np.linalg.solve(good_b, c) if c.shape[-1] else c  # Q_mm^{-1} Q_mD
        if bad.any():
            w = np.where(bad[:, None, None], 0.0, w)
        if not chol_t and c.shape[-1]:  # the units' plate (the first) only: see the
            # module's docstring; sum_m Q_Dm Q_mm^{-1} Q_mD as one (D, nP) x (nP, D) product
            c2 = (np.where(bad[:, None, None], 0.0, c) if bad.any() else c).reshape(-1, n_cols)
            schur -= c2.T @ w.reshape(-1, n_cols)
        eye = np.broadcast_to(np.eye(p.width), b.shape)
        # T_m = L_m^{-T}: z ~ N(0, I) gives T_m z ~ N(0, Q_mm^{-1})
        chol_t.append(np.swapaxes(np.linalg.solve(lch, eye), 1, 2))
        solved.append(w)
        bad_masks.append(bad)
    if bad_labels:
        shown = ", ".join(bad_labels[:20]) + (f" and {len(bad_labels) - 20} more"
                                              if len(bad_labels) > 20 else "")
        (log.debug if quiet else log.warning)(
            "laplace: the Hessian is not positive definite for %d unit(s): %s; their draws "
            "are left empty (NaN)", len(bad_labels), shown)
    schur = 0.5 * (schur + schur.T)
    n_d = schur.shape[0]
    if n_d:
        ev, vec = np.linalg.eigh(schur) if np.isfinite(schur).all() else (
            np.full(n_d, np.nan), np.eye(n_d))
        if not (np.isfinite(ev).all() and ev[0] > EIG_RTOL * np.max(np.abs(ev))):
            names = _dense_labels(dense, ushapes, labels)
            worst = np.argsort(-np.abs(vec[:, 0]))[:5]
            what = ", ".join(names[i] for i in worst)
            return LaplaceFit(None, "refused", plates, dense, bad_labels,
                              refused=("the Hessian of the global parameters is not positive "
                                       f"definite (smallest eigenvalue {ev[0]:.3g}; its "
                                       f"direction is mostly {what})"),
                              n_products=prod.count, seconds=time.perf_counter() - t0,
                              split=split)
        s_inv = (vec / ev) @ vec.T
        logdet += float(np.sum(np.log(ev)))
        t_dense = vec / np.sqrt(ev)  # t_dense @ z ~ N(0, S^{-1})
    else:
        s_inv = np.zeros((0, 0))
        t_dense = np.zeros((0, 0))

    def sd_of() -> dict[str, np.ndarray]:
        """Marginal sds (unconstrained): dense from S^{-1}; members add W S^{-1} W^T."""
        sd: dict[str, np.ndarray] = {}
        dvar = np.diag(s_inv)
        o = 0
        for s in dense:
            k = _size(ushapes[s])
            sd[s] = np.sqrt(dvar[o:o + k]).reshape(ushapes[s])
            o += k
        for p, t, w, bad in zip(plates, chol_t, solved, bad_masks, strict=True):
            var = np.einsum("mij,mij->mi", t, t) + _quad_rows(w, s_inv)
            var = np.where(bad[:, None], np.nan, var)
            offs = np.cumsum([0, *p.widths])
            for s, a, wd in zip(p.sites, offs[:-1], p.widths, strict=True):
                sd[s] = np.sqrt(var[:, a:a + wd]).reshape(ushapes[s])
        return sd

    centre, newton, step = _newton_centre(u, prod, ushapes, plates, dense, s_inv, chol_t,
                                          solved, bad_masks, quiet)
    draws = (_draw(centre, ushapes, plates, dense, t_dense, chol_t, solved, bad_masks, n_draws,
                   k_draw) if n_draws else {})
    fit = LaplaceFit(draws, structure, plates, dense, bad_labels, None, sd_of, prod.count,
                     time.perf_counter() - t0, split, n_d, newton, step, logdet=logdet)
    (log.debug if quiet else log.info)(
        "laplace: %s Hessian (%d plate(s): %s; %d dense coordinates), %d Hessian-vector "
        "products, %.1f s", structure, len(plates),
        ", ".join(f"{p.n} x {p.width}" for p in plates) or "none", n_d, prod.count, fit.seconds)
    return fit


def _quad_rows(w: np.ndarray, s_inv: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``diag(W_m S^{-1} W_m')`` for every member ``m`` of ``w`` (n, P, D): the dense block's
    share of each member coordinate's variance, by matrix products of ``chunk`` members at a
    time (one (chunk P, D) x (D, D) product each, not n small ones)."""
    n, p, d = w.shape
    if d == 0:
        return np.zeros((n, p))
    out = np.empty((n, p))
    for a in range(0, n, chunk):
        wa = w[a:a + chunk].reshape(-1, d)
        out[a:a + chunk] = np.sum((wa @ s_inv) * wa, axis=1).reshape(-1, p)
    return out


def _newton_centre(u: dict, prod: _Products, ushapes: dict, plates: list[Plate],
                   dense: list[str], s_inv: np.ndarray, chol_t: list[np.ndarray],
                   solved: list[np.ndarray], bad: list[np.ndarray], quiet: bool = False
                   ) -> tuple[dict, dict, dict]:
    """The centre of the Gaussian: ``u`` moved by one Newton step ``Q^{-1} grad`` (the
    maximum of the quadratic model, so an optimiser stopped short of the mode does not shift
    the draws), solved in the same arrowhead form. The step is taken when its length in the
    Gaussian's own metric, ``sqrt(grad' Q^{-1} grad)``, is at most ``sqrt(d) + 3`` (else the
    optimiser has not converged; the draws stay centred at ``u`` and the length says so).
    Refused members do not move. Returns the centre, the step's description and the step
    itself (taken or not)."""
    g = prod.grad or {k: np.zeros(sh) for k, sh in ushapes.items()}
    g_d = (np.concatenate([g[k].reshape(-1) for k in dense]) if dense else np.zeros(0))
    gp = [_plate_rows(g, p) for p in plates]
    binv_g = [np.einsum("mij,mkj,mk->mi", t, t, np.where(b[:, None], 0.0, gm))
              for t, gm, b in zip(chol_t, gp, bad, strict=True)]
    n_d = g_d.shape[0]
    rhs = g_d - sum((w.reshape(-1, n_d).T @ (gm * ~b[:, None]).reshape(-1)
                     for w, gm, b in zip(solved[:1], gp[:1], bad[:1], strict=True) if n_d),
                    np.zeros_like(g_d))
    x_d = s_inv @ rhs
    x_p = [bg - (w.reshape(-1, n_d) @ x_d).reshape(bg.shape) if n_d else bg
           for bg, w in zip(binv_g, solved, strict=True)]
    x_p = [np.where(b[:, None], 0.0, x) for x, b in zip(x_p, bad, strict=True)]
    quad = float(g_d @ x_d + sum(np.sum(np.where(b[:, None], 0.0, gm) * x)
                                 for gm, x, b in zip(gp, x_p, bad, strict=True)))
    d = sum(_size(sh) for sh in ushapes.values())
    length = float(np.sqrt(max(quad, 0.0)))
    grad_norm = float(np.sqrt(sum(np.sum(v**2) for v in g.values())))
    taken = bool(np.isfinite(length) and length <= np.sqrt(d) + 3.0)
    info = {"gradient_norm": grad_norm, "length": length, "taken": taken}
    step = {k: np.zeros(ushapes[k]) for k in u}
    o = 0
    for k in dense:
        n = _size(ushapes[k])
        step[k] = x_d[o:o + n].reshape(ushapes[k])
        o += n
    for p, x in zip(plates, x_p, strict=True):
        offs = np.cumsum([0, *p.widths])
        for k, a, w in zip(p.sites, offs[:-1], p.widths, strict=True):
            step[k] = x[:, a:a + w].reshape(ushapes[k])
    if not taken:
        (log.debug if quiet else log.warning)(
            "laplace: the optimiser stopped far from the mode (Newton step of length %.3g in "
            "the posterior's metric, gradient norm %.3g); the draws are centred at its last "
            "point: more map_num_steps may help", length, grad_norm)
        return u, info, step
    out = {k: np.asarray(v, np.float64) + step[k] for k, v in u.items()}
    return out, info, step


def _draw(u: dict, ushapes: dict, plates: list[Plate], dense: list[str], t_dense: np.ndarray,
          chol_t: list[np.ndarray], solved: list[np.ndarray], bad: list[np.ndarray],
          n: int, key) -> dict[str, np.ndarray]:
    """Draws of ``N(u, Q^{-1})`` (arrowhead form): dense block first, members given it."""
    f32 = jnp.float32
    td = jnp.asarray(t_dense, f32)
    ts = [jnp.asarray(t, f32) for t in chol_t]
    ws = [jnp.asarray(w, f32) for w in solved]
    masks = [jnp.asarray(b) for b in bad]
    mode = {k: jnp.asarray(v, f32) for k, v in u.items()}

    @jax.jit
    def run(key, td, ts, ws, masks, mode):  # arrays as arguments: not compiled in as constants
        keys = jax.random.split(key, len(plates) + 1)
        zd = jax.random.normal(keys[0], (n, td.shape[1]), f32)
        dd = zd @ td.T  # (n, D)
        out = {}
        o = 0
        for s in dense:
            k = _size(ushapes[s])
            out[s] = mode[s][None] + dd[:, o:o + k].reshape((n, *ushapes[s]))
            o += k
        for i, p in enumerate(plates):
            z = jax.random.normal(keys[i + 1], (n, p.n, p.width), f32)
            d = jnp.einsum("mij,smj->smi", ts[i], z) - jnp.einsum("mij,sj->smi", ws[i], dd)
            d = jnp.where(masks[i][None, :, None], jnp.nan, d)
            a = 0
            for s, wd in zip(p.sites, p.widths, strict=True):
                out[s] = mode[s][None] + d[:, :, a:a + wd].reshape((n, *ushapes[s]))
                a += wd
        return out

    return {k: np.asarray(v) for k, v in run(key, td, ts, ws, masks, mode).items()}


def likelihood_surrogate(prior_and_params, loglik, u: dict, rng_key
                         ) -> tuple[Callable[[dict], jnp.ndarray] | None, dict]:
    """A cheap log density with the same gradient and Hessian at ``u`` as the model's.

    The model's log density is ``f(u) = R(u) + L(theta(u))``: ``R`` the latent sites' own
    densities (no data), ``theta`` the latent and deterministic sites' values and ``L`` the
    observed sites' log density given them (``prior_and_params(u) -> (R, theta)``,
    ``loglik(theta) -> L``). With ``g`` and ``H`` the gradient and Hessian of ``L`` at
    ``theta* = theta(u)``,

    ``F(v) = R(v) + g . theta(v) + 1/2 (theta(v) - theta*)' H (theta(v) - theta*)``

    has ``grad F(u) = grad f(u)`` and ``Hess F(u) = Hess f(u)`` exactly (the chain rule:
    ``J' H J + sum_k g_k Hess theta_k``), and evaluating it passes over the units'
    parameters, never over the data. ``H`` is computed here once, by Hessian-vector products
    of ``L`` over the data: ``L`` depends on few of the values (e.g. each curve's parameters
    and the noise scale), found from ``g`` (the values with no gradient are checked to have no
    curvature either, with one random probe), which form one plate of members (checked for
    independence as in :func:`laplace`) and a small dense block; so the whole Hessian costs a
    few passes over the data instead of one per global coordinate.

    Returns ``(F, info)``; ``F`` is ``None`` (use ``f``) where ``H`` would not be exact in
    this form: more than one plate, a dense block above ``SURROGATE_DENSE_MAX`` coordinates,
    coupled members, curvature in values without gradient. ``info`` says which.
    """
    t0 = time.perf_counter()
    mode = {k: jnp.asarray(v, jnp.float32) for k, v in u.items()}
    _, theta_all = jax.jit(prior_and_params)(mode)
    theta = {k: v for k, v in theta_all.items()
             if jnp.issubdtype(jnp.result_type(v), jnp.floating)}
    fixed = {k: v for k, v in theta_all.items() if k not in theta}

    def lik(t):
        return loglik({**fixed, **t})

    # one compiled program of Hessian-vector products of the likelihood over all the values;
    # its gradient at theta* comes with the first product
    prod = _Products(lik, theta)
    prod.apply([{}], lambda out: None)
    g = prod.grad or {}
    used = [k for k in theta if np.any(g[k] != 0)]
    unused = [k for k in theta if k not in used]
    if not np.all([np.isfinite(v).all() for v in g.values()]):
        return None, {"used": False, "why": "the likelihood's gradient is not finite"}
    shapes = {k: tuple(theta[k].shape) for k in used}
    k_zero, k_check = jax.random.split(rng_key)
    if unused:  # no gradient: check that there is no curvature either (one random probe)
        keys = jax.random.split(k_zero, len(unused))
        probe = {k: np.asarray(jax.random.normal(kk, theta[k].shape, jnp.float32))
                 for k, kk in zip(unused, keys, strict=True)}
        hv = prod.apply([probe], lambda out: out)[0]
        curved = [k for k, v in hv.items() if np.any(v != 0)]
        if curved:
            return None, {"used": False,
                          "why": f"curvature without gradient in {', '.join(curved)}"}
    plates, dense = choose_structure(shapes, dense_max=SURROGATE_DENSE_MAX)
    n_dense = sum(_size(shapes[k]) for k in dense)
    if len(plates) > 1 or n_dense > SURROGATE_DENSE_MAX:
        return None, {"used": False, "why": (
            f"the likelihood's curvature has {len(plates)} plates and {n_dense} dense "
            "coordinates")}
    blocks, checks = _blocks_and_checks(prod, plates, k_check)
    coupled = [s for rel in checks for s, r in rel.items() if r > CHECK_RTOL]
    if coupled:
        return None, {"used": False, "why": f"members of {', '.join(coupled)} are coupled"}
    qdd_np, cross = _dense_columns(prod, plates, dense)
    qdd = jnp.asarray(0.5 * (qdd_np + qdd_np.T), jnp.float32)
    blk = [jnp.asarray(b, jnp.float32) for b in blocks]
    crs = [jnp.asarray(c, jnp.float32) for c in cross]
    gj = {k: jnp.asarray(g[k], jnp.float32) for k in used}
    t_star = {k: jnp.asarray(theta[k]) for k in used}

    def surrogate(v: dict) -> jnp.ndarray:
        prior, th = prior_and_params(v)
        lin = sum((jnp.sum(gj[k] * th[k]) for k in used), start=jnp.zeros(()))
        d = {k: th[k] - t_star[k] for k in used}
        dd = _dense_rows_jnp(d, dense)
        quad = dd @ (qdd @ dd) if dense else jnp.zeros(())
        for p, b, c in zip(plates, blk, crs, strict=True):
            dp = jnp.concatenate([d[k].reshape(p.n, -1) for k in p.sites], axis=1)
            quad = quad + jnp.einsum("mi,mij,mj->", dp, b, dp)
            if dense:
                quad = quad + 2.0 * jnp.einsum("mi,mid,d->", dp, c, dd)
        return prior + lin - 0.5 * quad  # Q = -H: the likelihood's curvature is -Q

    info = {"used": True, "likelihood_sites": used,
            "plates": [{"members": p.n, "sites": p.sites, "coordinates_per_member": p.width}
                       for p in plates],
            "dense_coordinates": n_dense,
            "likelihood_hessian_vector_products": prod.count,
            "seconds": time.perf_counter() - t0}
    return surrogate, info


def _dense_rows_jnp(d: dict, dense: list[str]) -> jnp.ndarray:
    if not dense:
        return jnp.zeros(0)
    return jnp.concatenate([d[k].reshape(-1) for k in dense])

