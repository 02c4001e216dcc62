"""The blocked engine's driver: sweeps, compiled chunks, chains, sharding, thinning, records.

One sweep of every chain is: the unit blocks' HMC (all units at once, each with its own step
size and metric, in the plan's unit coordinates), the mode jump (:mod:`.mode_jump`), then the
plan's global blocks in order. Every step leaves the posterior invariant, so the chain targets
the plan's posterior (the family's model; ``tests/test_blocked_contract.py`` checks agreement
with NUTS for every registered plan).

Chains are vectorised; the data can be sharded over the first unit axis across the devices of
one host (``shard``); only global quantities are reduced across devices. Sampling runs in
compiled chunks (``lax.scan``; warmup and sampling share one program) with progress between
chunks; unit draws stay on the device and per-unit summaries (:mod:`.summaries`) are computed
there.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...progress import progress_extra
from .adaptation import (
    METRIC_REFRESH,
    WARMUP_CHUNKS,
    initial_adaptation,
    refresh_metrics,
    restart_step_sizes,
)
from .kernels import block_hmc
from .mode_jump import JumpProposal, find_modes, mode_jump
from .plan import Adaptation, ChainState, Plan
from .summaries import summarize_units, worst_units

log = logging.getLogger("drugbayes")

Array = Any


@dataclass(frozen=True)
class SamplerSettings:
    """Sampler budget and tuning (hashable).

    Attributes
    ----------
    num_chains, num_warmup, num_samples, thinning : int
    unit_steps : int
        Longest trajectory of the unit blocks' HMC.
    group_steps : int
        Longest trajectory of the plan's group blocks (e.g. one HMC per drug).
    global_steps : int
        Longest trajectory of the plan's global HMC.
    target_accept : float
    mode_jump : bool
        Independence Metropolis-Hastings move of every unit to its modes.
    unit_coords : bool
        Unit HMC in the plan's unit coordinates (e.g. top-dose coordinates).
    keep_draws : bool
        Unit draws back to the host (False: device summaries only).
    """

    num_chains: int = 4
    num_warmup: int = 500
    num_samples: int = 500
    thinning: int = 1
    unit_steps: int = 10
    group_steps: int = 6
    global_steps: int = 4
    target_accept: float = 0.8
    mode_jump: bool = True
    unit_coords: bool = True
    keep_draws: bool = True


@dataclass
class BlockedFit:
    """Result of :func:`sample`.

    Attributes
    ----------
    globals : dict
        Host draws ``[chain, draw, ...]`` of the plan's records (the family's global sites)
        and the acceptance rates (``accept_<unit_label>``, ``accept_<block>``, ...).
    units : dict or None
        Host draws ``[chain, draw, *U]`` of each unit coordinate, by the family's site name
        (``keep_draws``).
    unit_summary : dict
        Device-computed summaries of the requested unit coordinates, each ``[*U]`` (numpy).
    timings : dict
    info : dict
    adapt : Adaptation or None
        Final adaptation state (device arrays; for inspection).
    """

    globals: dict
    units: dict | None
    unit_summary: dict
    timings: dict
    info: dict
    adapt: Adaptation | None = None


# ----------------------------------------------------------------------------- one sweep
def sweep_keys(key: Array, n_global: int) -> tuple[Array, Array, list[Array]]:
    """Keys of one sweep: the unit HMC's, the mode jump's and each global block's (this order
    of derivation is the screen sampler's since its first version: same seed, same draws)."""
    k_unit, k_first, k_last = jax.random.split(key, 3)
    k_unit, k_mid = jax.random.split(k_unit)
    k_mid, k_jump = jax.random.split(k_mid)
    n_mid = max(n_global - 2, 0)
    middle = [k_mid] if n_mid == 1 else list(jax.random.split(k_mid, n_mid)) if n_mid else []
    return k_unit, k_jump, ([k_first, *middle, k_last] if n_global > 1 else [k_first])


def unit_step(key: Array, state: ChainState, adapt: Adaptation, data: Any, plan: Plan,
              steps: int, warm: Array, target: float,
              coords: bool) -> tuple[ChainState, Adaptation, Array, Array]:
    """Every unit's HMC transition given the globals, all at once (in the plan's unit
    coordinates when ``coords``; the metric is then in those coordinates). Returns the state,
    the adaptation state, the acceptance rates and the units' log densities in the natural
    coordinates."""
    glob = state.glob
    active = plan.active(data)
    if not coords:
        x, da, acc, lp = block_hmc(key, state.units, lambda x: plan.unit_logp(x, glob, data),
                                   adapt.unit_metric, adapt.unit_da, warm, steps, active,
                                   target)
        return state._replace(units=x), adapt._replace(unit_da=da), acc, lp
    z0 = plan.to_coords(state.units, data)
    z, da, acc, lp = block_hmc(
        key, z0, lambda z: plan.unit_logp(plan.from_coords(z, data), glob, data)
        + plan.coords_log_det(z), adapt.unit_metric, adapt.unit_da, warm, steps, active, target)
    # a rejected move keeps the exact old coordinates (no float32 round trip)
    x = jnp.where(jnp.all(z == z0, -1)[..., None], state.units, plan.from_coords(z, data))
    return state._replace(units=x), adapt._replace(unit_da=da), acc, lp - plan.coords_log_det(z)


def _sweep(key: Array, state: ChainState, adapt: Adaptation, data: Any, jp: JumpProposal | None,
           plan: Plan, cfg: SamplerSettings, warm: Array) -> tuple[ChainState, Adaptation, dict]:
    blocks = plan.global_blocks()
    k_unit, k_jump, k_glob = sweep_keys(key, len(blocks))
    state, adapt, acc_u, lp = unit_step(k_unit, state, adapt, data, plan, cfg.unit_steps, warm,
                                        cfg.target_accept, cfg.unit_coords)
    active = plan.active(data)
    pf = active.astype(acc_u.dtype)
    stats = {f"accept_{plan.unit_label}": jnp.sum(acc_u * pf) / jnp.sum(pf)}
    block_stats = {}
    if cfg.mode_jump:
        assert jp is not None, "the mode jump needs its proposal (built at warmup refreshes)"
        glob = state.glob
        units, acc_j = mode_jump(k_jump, state.units, lp, jp,
                                 lambda x: plan.unit_logp(x, glob, data), active)
        state = state._replace(units=units)
        two = jp.two & active
        block_stats["accept_jump"] = jnp.sum(acc_j * pf) / jnp.sum(pf)
        block_stats["accept_jump_two_modes"] = (jnp.sum(jnp.where(two, acc_j, 0.0))
                                                / jnp.maximum(jnp.sum(two), 1))
    plan_ad = adapt.plan
    for name, k in zip(blocks, k_glob):
        state, plan_ad, acc = plan.global_step(name, k, state, plan_ad, data, warm, cfg)
        if acc is not None:
            stats[f"accept_{name}"] = jnp.mean(acc)
    return state, adapt._replace(plan=plan_ad), {**stats, **block_stats}


@partial(jax.jit, static_argnames=("plan", "cfg", "length", "keep"))
def run_chunk(keys: Array, state: ChainState, adapt: Adaptation, data: Any,
              jp: JumpProposal | None, warm: Array, plan: Plan, cfg: SamplerSettings,
              length: int, keep: tuple[int, ...]) -> tuple[ChainState, Adaptation, dict]:
    """``length`` sweeps of every chain (vmapped), as one compiled scan.

    ``jp``: the mode-jump proposal (shared by all chains); ``warm`` (a traced boolean, so
    warmup and sampling share one compiled program) switches step-size adaptation on;
    ``keep``: the unit coordinates returned for every sweep (``units``)."""
    def one_chain(key, s, ad):
        def body(c, k):
            s, ad = c
            s, ad, st = _sweep(k, s, ad, data, jp, plan, cfg, warm)
            out = {"units": s.units[..., list(keep)], **plan.record(s.glob), **st}
            return (s, ad), out

        ks = jax.random.split(key, length)
        (s, ad), out = lax.scan(body, (s, ad), ks)
        return s, ad, out

    return jax.vmap(one_chain)(keys, state, adapt)


@partial(jax.jit, static_argnames=("plan", "n_iter"))
def unit_modes(glob: Any, data: Any, plan: Plan, n_iter: int = 30) -> JumpProposal:
    """The mode-jump proposal of every unit, from the chain-averaged globals ``glob``
    (leading chain axis): :func:`.mode_jump.find_modes` from the plan's starts, with the
    unit log density (0 for absent units) and Fisher information plus prior precision as the
    curvature."""
    gm = jax.tree_util.tree_map(lambda a: jnp.mean(a, 0), glob)
    active = plan.active(data)
    starts = plan.mode_starts(gm, data)
    prior_prec = jnp.eye(plan.k, dtype=starts.dtype) / plan.unit_prior_scale(gm, data) ** 2

    def logp(x):
        return jnp.where(active, plan.unit_logp(x, gm, data), 0.0)

    def curvature(x):
        return plan.unit_fisher(x, gm, data) + prior_prec

    return find_modes(starts, logp, curvature, n_iter)


# ----------------------------------------------------------------------------- host memory
HOST_MEMORY_SHARE = 0.6  # the share of host memory the draws of a drugbayes.fit run may take


def host_memory_bytes() -> int | None:
    """Physical memory of the host in bytes (``None`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def max_units_on_host(num_chains: int, num_samples: int, bytes_per_unit_draw: int,
                      total: int | None = None) -> int | None:
    """The most units whose draws :func:`check_host_memory` lets a ``drugbayes.fit`` run keep
    (``None`` where host memory is unknown)."""
    total = host_memory_bytes() if total is None else total
    if total is None:
        return None
    return int(HOST_MEMORY_SHARE * total // (num_chains * num_samples * bytes_per_unit_draw))


def check_host_memory(n_units: int, num_chains: int, num_samples: int,
                      bytes_per_unit_draw: int, label: str = "unit") -> None:
    """Refuse (exit 2, before sampling) a ``drugbayes.fit`` run whose draws cannot fit in host
    memory: that path keeps every draw of every unit (``posterior.nc``, ``summary.csv``).
    ``label`` names a unit in the message (the plan's ``unit_label``)."""
    from ...errors import ConfigError, Issue

    need = n_units * num_chains * num_samples * bytes_per_unit_draw
    total = host_memory_bytes()
    if total is None:
        return
    if need > HOST_MEMORY_SHARE * total:
        fit_draws = max(1, int(HOST_MEMORY_SHARE * total
                               / (n_units * num_chains * bytes_per_unit_draw)))
        raise ConfigError([Issue(
            "<config>", None, "inference.num_samples", str(num_samples),
            f"at most {fit_draws} draws per chain for {n_units} {label}s x {num_chains} "
            f"chains on this machine: drugbayes.fit keeps every draw of every {label} on the "
            f"host (about {need / 2 ** 30:.0f} GiB, {total / 2 ** 30:.0f} GiB here). Thin "
            f"(inference.thinning) or use fewer draws or chains; or call "
            f"drugbayes.inference.blocked.sample(..., keep_draws=False), which keeps "
            f"only per-{label} summaries computed on the device")])


# ----------------------------------------------------------------------------- sharding
def _path_names(path) -> list[str | None]:
    return [getattr(p, "name", getattr(p, "key", None)) for p in path]


def _shard(plan: Plan, data: Any, state: ChainState, adapt: Adaptation, n_dev: int):
    """Data, chain state and adaptation placed on ``n_dev`` devices, the first unit axis
    split across them."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as Ps

    mesh = Mesh(np.array(jax.devices()[:n_dev]), ("units",))
    data_fields = set(plan.sharded_data())
    state_fields = set(plan.sharded_state())

    def put(tree, spec_of):
        return jax.tree_util.tree_map_with_path(lambda p, v: jax.device_put(
            v, NamedSharding(mesh, spec_of(_path_names(p), np.ndim(v)))), tree)

    def data_spec(names, nd):
        return Ps("units") if names[0] in data_fields else Ps()

    def chain_spec(names, nd):
        # chain state: [chain, *U, ...] for unit-level leaves
        unit_level = (names[0] in ("units", "unit_metric", "unit_da")
                      or any(n in state_fields for n in names))
        return Ps(None, "units") if unit_level and nd >= 2 else Ps()

    def put_units(tree):
        return jax.tree_util.tree_map(
            lambda v: jax.device_put(v, NamedSharding(mesh, Ps("units"))), tree)

    return put(data, data_spec), put(state, chain_spec), put(adapt, chain_spec), put_units


# ----------------------------------------------------------------------------- the run
def sample(plan: Plan, host: Any, cfg: SamplerSettings, seed: int = 0,
           shard: bool | int = False, summarize: tuple[str, ...] = (),
           progress: bool = True, name: str = "screen", checkpoint: Any = None,
           checkpoint_every: int = 0) -> BlockedFit:
    """Run the blocked sampler.

    Parameters
    ----------
    plan : Plan
    host : object
        The plan's host data (e.g. a :class:`drugbayes.families.dose_response.grid.ScreenGrid`).
    cfg : SamplerSettings
    seed : int
    shard : bool or int
        Shard the first unit axis over the local devices (True: all; int: that many).
    summarize : tuple of str
        Unit sites (``plan.unit_sites``) summarised on the device.
    progress : bool
        Log progress between chunks.
    name : str
        The back-end's name in progress messages.
    checkpoint : drugbayes.inference.checkpoint.Checkpoint, optional
        Where to write the sampler's state (chain states, adaptation, mode-jump proposal,
        random key) and the draws so far, every ``checkpoint_every`` chunks of warmup or
        sampling and once after the warmup; a checkpoint there of the same run is resumed
        from, and the draws are then identical to an uninterrupted run's.
    """
    t0 = time.perf_counter()
    n_dev = (jax.local_device_count() if shard is True else int(shard)) if shard else 1
    if n_dev > 1:
        host = plan.pad_units(host, n_dev)
    data = plan.device_data(host)
    state = plan.initial_state(host, cfg.num_chains, seed)
    adapt = initial_adaptation(plan, state)
    ck = checkpoint if checkpoint is not None and checkpoint_every > 0 else None
    jp_shape = (jax.eval_shape(lambda g, d: unit_modes(g, d, plan), state.glob, data)
                if ck is not None and cfg.mode_jump else None)
    found = _resume(ck, cfg, n_dev, seed, state, adapt, jp_shape) if ck is not None else None
    if found is not None:
        state, adapt = found["state"], found["adapt"]
    if n_dev > 1:
        data, state, adapt, put_units = _shard(plan, data, state, adapt, n_dev)
    else:
        data = jax.tree_util.tree_map(jnp.asarray, data)
        put_units = None
    active = np.asarray(plan.active(data))
    key = jax.random.PRNGKey(seed)
    chunk = max(1, math.ceil(cfg.num_warmup / WARMUP_CHUNKS))
    sites = plan.unit_sites
    # unit draws kept on the device: every coordinate (keep_draws), else only those
    # summarised there
    keep_idx = tuple(range(plan.k)) if cfg.keep_draws else tuple(
        sites.index(nm) for nm in summarize if nm in sites)
    warm_on, warm_off = jnp.asarray(True), jnp.asarray(False)
    timings = {}
    acc_log: list[tuple[float, float]] = []
    unit_acc = f"accept_{plan.unit_label}"
    hmc_blocks = [f"accept_{b}" for b in plan.global_blocks()]

    def modes():
        # the mode-jump proposal, from the chain-averaged globals (sharded like the units)
        if not cfg.mode_jump:
            return None
        jp = unit_modes(state.glob, data, plan)
        return put_units(jp) if put_units is not None else jp

    def save(warmup_chunks: int, got: int, n_sweeps: int) -> None:
        _save(ck, cfg, n_dev, seed, key, state, adapt, jp, acc_log, glob, units_dev,
              warmup_chunks, got, n_sweeps, name)

    glob: list[dict] = []
    units_dev: list[Array] = []
    start, got, n_sweeps = 0, 0, 0
    if found is None:
        adapt = refresh_metrics(state, adapt, data, plan, cfg.unit_coords)
        jp = modes()
    else:
        jp = found["jp"]
        if jp is not None and put_units is not None:
            jp = put_units(jp)
        key, acc_log = found["key"], found["acc_log"]
        start, got, n_sweeps = found["warmup_chunks"], found["got"], found["n_sweeps"]
        if found["glob"]:
            glob.append(found["glob"])
            units_dev.append(jnp.asarray(found["units"]))
    t_c = time.perf_counter()
    for i in range(start, WARMUP_CHUNKS):
        if i in METRIC_REFRESH:
            adapt = restart_step_sizes(refresh_metrics(state, adapt, data, plan,
                                                       cfg.unit_coords), plan)
            jp = modes()
        key, k = jax.random.split(key)
        state, adapt, out = run_chunk(jax.random.split(k, cfg.num_chains), state, adapt, data,
                                      jp, warm_on, plan, cfg, chunk, keep_idx)
        glob_acc = [b for b in hmc_blocks if b in out]
        acc = (float(np.nanmean(np.asarray(out[unit_acc]))),
               float(np.mean(np.asarray(out[glob_acc[-1]]))) if glob_acc else float("nan"))
        acc_log.append(acc)
        if i == 0:
            timings["first_chunk"] = time.perf_counter() - t_c
        if progress:
            log.info("%s: warmup %d/%d, acceptance %ss %.2f, globals %.2f", name,
                     (i + 1) * chunk, WARMUP_CHUNKS * chunk, plan.unit_label, *acc,
                     extra=progress_extra((i + 1) * chunk, WARMUP_CHUNKS * chunk,
                                          f"{name} warmup"))
        if ck is not None and ((i + 1) % checkpoint_every == 0 or i + 1 == WARMUP_CHUNKS):
            save(i + 1, 0, 0)  # the warmup is checkpointed too, and its end always
    jax.block_until_ready(state)
    timings["warmup"] = time.perf_counter() - t0
    # sampling
    t1 = time.perf_counter()
    n_keep = cfg.num_samples
    per_chunk = chunk  # same length as warmup chunks: one compiled program for both
    n_chunk = 0
    first = True
    while got < n_keep:
        key, k = jax.random.split(key)
        state, adapt, out = run_chunk(jax.random.split(k, cfg.num_chains), state, adapt, data,
                                      jp, warm_off, plan, cfg, per_chunk, keep_idx)
        if first:
            timings["first_sampling_chunk"] = time.perf_counter() - t1
            first = False
        n_sweeps += per_chunk
        sel = slice(cfg.thinning - 1, None, cfg.thinning)
        ud = out["units"][:, sel]  # device [chain, kept, *U, len(keep_idx)]
        take = min(ud.shape[1], n_keep - got)
        units_dev.append(ud[:, :take])
        glob.append({k_: np.asarray(v[:, sel][:, :take]) for k_, v in out.items()
                     if k_ != "units"})
        got += take
        n_chunk += 1
        if progress:
            log.info("%s: %d/%d draws per chain", name, got, n_keep,
                     extra=progress_extra(got, n_keep, f"{name} draws"))
        if ck is not None and got < n_keep and n_chunk % checkpoint_every == 0:
            save(WARMUP_CHUNKS, got, n_sweeps)
    U_all = jnp.concatenate(units_dev, 1) if len(units_dev) > 1 else units_dev[0]
    jax.block_until_ready(U_all)
    timings["sampling"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    summary, worst = {}, {}
    for site in summarize:
        if site not in sites:
            continue
        j = list(keep_idx).index(sites.index(site))
        # nested R-hat over 4 superchains when there are at least 8 chains
        n_super = 4 if cfg.num_chains >= 8 and cfg.num_chains % 4 == 0 else 0
        summary[site] = summarize_units(U_all[..., j], n_super=n_super)
        worst[site] = worst_units(U_all[..., j], summary[site], active, plan.unit_axes)
    units = None
    if cfg.keep_draws:
        units = {site: np.asarray(U_all[..., j]) for j, site in enumerate(sites)}
    timings["summaries"] = time.perf_counter() - t2
    glob_all = {k_: np.concatenate([g[k_] for g in glob], 1) for k_ in glob[0]}
    timings["total"] = time.perf_counter() - t0
    per_sweep, note = plan.gradient_passes(cfg)
    n_grad = cfg.num_chains * (WARMUP_CHUNKS * chunk + n_sweeps) * per_sweep
    label = plan.unit_label
    info = {**plan.describe(host), "n_devices": n_dev, "warmup_acceptance": acc_log,
            unit_acc: float(np.nanmean(glob_all[unit_acc])),
            **{b: float(np.mean(glob_all[b])) for b in hmc_blocks if b in glob_all},
            "num_gradient_evals": int(n_grad), "note_gradient_evals": note,
            "resumed_from_checkpoint": found is not None}
    if worst:
        info[f"worst_{label}s"] = worst
    if cfg.mode_jump:
        info["accept_jump"] = float(np.mean(glob_all["accept_jump"]))
        info["accept_jump_two_modes"] = float(np.mean(glob_all["accept_jump_two_modes"]))
        info[f"{label}s_with_two_modes"] = int(np.sum(np.asarray(jp.two) & active))
    return BlockedFit(glob_all, units, summary, timings, info, adapt)


# ----------------------------------------------------------------------------- checkpoints
def _identity(cfg: SamplerSettings, n_dev: int, seed: int) -> str:
    """What a checkpoint's sampler must have been to be resumed from."""
    return f"blocked:{cfg!r}:devices={n_dev}:seed={seed}"


def _flat(prefix: str, tree: Any) -> tuple[dict[str, np.ndarray], str]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return {f"{prefix}/{i}": np.asarray(x) for i, x in enumerate(leaves)}, str(treedef)


def _save(ck: Any, cfg: SamplerSettings, n_dev: int, seed: int, key: Array, state: ChainState,
          adapt: Adaptation, jp: JumpProposal | None, acc_log: list, glob: list[dict],
          units_dev: list[Array], warmup_chunks: int, got: int, n_sweeps: int,
          name: str) -> None:
    """The sampler's whole state and the draws so far, to the checkpoint file (no pickle)."""
    from .. import checkpoint

    arrays: dict[str, np.ndarray] = {"key": np.asarray(key),
                                     "acc_log": np.asarray(acc_log, np.float64).reshape(-1, 2)}
    trees = {}
    for prefix, tree in (("state", state), ("adapt", adapt), ("jp", jp)):
        if tree is not None:
            flat, trees[prefix] = _flat(prefix, tree)
            arrays.update(flat)
    if glob:
        arrays.update({f"glob/{k}": np.concatenate([g[k] for g in glob], 1) for k in glob[0]})
        arrays["units"] = np.asarray(jnp.concatenate(units_dev, 1) if len(units_dev) > 1
                                     else units_dev[0])
    checkpoint.save(ck, arrays, {"back_end": "blocked", "sampler": _identity(cfg, n_dev, seed),
                                 "trees": trees, "warmup_chunks": warmup_chunks, "got": got,
                                 "n_sweeps": n_sweeps})
    log.info("%s: checkpoint written (warmup chunk %d/%d, %d draws per chain) to %s", name,
             warmup_chunks, WARMUP_CHUNKS, got, ck.path)


def _unflat(prefix: str, template: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The tree of ``template``'s structure from the checkpoint's leaves (each of the
    template leaf's shape and dtype, else ``ValueError``)."""
    leaves, treedef = jax.tree_util.tree_flatten(template)
    out = []
    for i, t in enumerate(leaves):
        v = arrays[f"{prefix}/{i}"]
        if v.shape != tuple(t.shape) or v.dtype != t.dtype:
            raise ValueError(f"{prefix}/{i}: {v.shape} {v.dtype}, expected {t.shape} {t.dtype}")
        out.append(jnp.asarray(v))
    return jax.tree_util.tree_unflatten(treedef, out)


def _resume(ck: Any, cfg: SamplerSettings, n_dev: int, seed: int, state: ChainState,
            adapt: Adaptation, jp_shape: Any) -> dict | None:
    """The state and draws of the checkpoint ``ck`` where it is of this sampler (same
    inputs hash, settings, devices and structure), else ``None`` (a fresh start)."""
    from .. import checkpoint

    found = checkpoint.load(ck)
    if found is None:
        return None
    arrays, header = found
    trees = {"state": state, "adapt": adapt, "jp": jp_shape}
    want = {k: str(jax.tree_util.tree_structure(t)) for k, t in trees.items() if t is not None}
    if (header.get("back_end") != "blocked" or header.get("sampler") != _identity(cfg, n_dev, seed)
            or header.get("trees") != want):
        log.info("checkpoint %s is of another sampler state; not resumed", ck.path)
        return None
    try:
        out = {k: _unflat(k, t, arrays) if t is not None else None for k, t in trees.items()}
    except (KeyError, ValueError) as e:
        log.info("checkpoint %s does not fit this run (%s); not resumed", ck.path, e)
        return None
    out.update(key=jnp.asarray(arrays["key"]),
               acc_log=[tuple(float(x) for x in row) for row in arrays["acc_log"]],
               glob={k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("glob/")},
               units=arrays.get("units"), warmup_chunks=int(header["warmup_chunks"]),
               got=int(header["got"]), n_sweeps=int(header["n_sweeps"]))
    log.info("resumed from checkpoint %s (warmup chunk %d/%d, %d draws per chain)", ck.path,
             out["warmup_chunks"], WARMUP_CHUNKS, out["got"])
    return out
