"""Batches of configs: validated together, resumed, run one after another or in parallel.

:func:`run_batch` validates every config first (nothing runs if one is bad or two write the
same run directory), skips a run whose finished run directory records the same inputs
(:func:`drugbayes.outputs.inputs_fingerprint`: the resolved config, the contents of every input
file and the drugbayes version) unless ``force``, and runs the others: in this process
(``jobs = 1``), in local worker processes (``jobs > 1``, the ``spawn`` start method: JAX is not
fork-safe) or as Ray tasks (``executor = "ray"``). A failing run does not stop the others; each
run gets a :class:`RunRecord` (the batch table) and :func:`exit_code` gives the worst state.

Workers receive plain data (config paths, overrides, the inputs hash) and return plain data
(a :class:`RunRecord`); each assembles its run directory in a temporary sibling folder and
moves it into place only when complete, so an interrupted or killed run never replaces a
finished one.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, load_config
from .errors import ConfigError, DiagnosticsError, InputError, Issue
from .outputs import finished_run_problem, inputs_fingerprint, output_dir_issues

__all__ = ["EXIT_CODES", "BatchError", "RunRecord", "exit_code", "format_table", "run",
           "run_batch"]

log = logging.getLogger("drugbayes")

#: the states of a run in the batch table, best first
STATES = ("done", "skipped", "diagnostics failed", "failed", "interrupted")
#: the command's exit code per worst state (``diagnostics failed`` only with ``on_fail =
#: "error"``; 2 is bad input found before anything ran)
EXIT_CODES = {"done": 0, "skipped": 0, "diagnostics failed": 3, "failed": 1, "interrupted": 130}
EXECUTORS = ("local", "ray")
#: the Ray setting that keeps a single-machine Ray's servers on 127.0.0.1 (Ray 2.x on Linux
#: otherwise replaces 127.0.0.1 by the machine's network address and listens there or on every
#: interface; this is the mode Ray uses on macOS and Windows)
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: why a local Ray cannot be started by this process
RAY_LOCAL_REFUSED = (
    "--executor ray without --ray-address starts a Ray on this machine with every socket on "
    "127.0.0.1, which needs RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 when Ray is imported; Ray was "
    "already imported in this process without it. Start one yourself (export "
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, `ray start --head --include-dashboard=false "
    "--num-cpus N`) and pass --ray-address 127.0.0.1:6379, or use --jobs N for local worker "
    "processes")


class BatchError(RuntimeError):
    """Some runs of a batch failed (raised by :func:`run` after every run was tried)."""


@dataclass
class RunRecord:
    """One line of the batch table.

    Attributes
    ----------
    name : str
        The run directory's name.
    config : str
        The config file.
    run_dir : str
        The run directory.
    state : str
        One of :data:`STATES`.
    seconds : float
        Wall time of the run (0 for a skipped one).
    note : str
        Why it failed, why it was redone, or that it was skipped.
    fatal : bool
        Its diagnostics failed with ``on_fail = "error"`` (counts for the exit code).
    headline : str
        The headline table printed after the run.
    warnings : list of str
        drugbayes warnings raised by the run.
    """

    name: str
    config: str
    run_dir: str
    state: str
    seconds: float = 0.0
    note: str = ""
    fatal: bool = False
    headline: str = ""
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- one run
def headline_text(result: Any, name: str) -> str:
    """The run's headline table and diagnostics verdict, as printed after each run."""
    import pandas as pd

    from .families import get_family

    title, quantities = get_family(result.spec.family).headline
    summary = result.summary()
    lines = []
    t = summary[summary["quantity"].isin(quantities)].copy()
    if not t.empty:
        prob = float(summary["interval_prob"].iloc[0])
        groups = list(summary.columns[:summary.columns.get_loc("quantity")])
        t = t[[*groups, "quantity", "unit", "median", "lower", "upper", "censored"]]
        t = t.rename(columns={"lower": f"lower{prob:.0%}", "upper": f"upper{prob:.0%}"})
        with pd.option_context("display.width", 160, "display.max_rows", 500,
                               "display.float_format", lambda v: f"{v:.4g}"):
            lines += ["", f"{name}: {title} ({prob:.0%} intervals)", t.to_string(index=False)]
    d = result.diagnostics
    approx = d["approximation"]
    status = "passed" if d["passed"] else "FAILED"
    checks = ", ".join(f"{k}={v['value']:.4g}" if isinstance(v["value"], float)
                       else f"{k}={v['value']}" for k, v in d["checks"].items())
    lines.append(f"approximation: {approx['name']}: {approx['description']}")
    uc = d.get("unit_checks", {})
    if "n_misfit" in uc or "n_prior_dominated" in uc:
        lines.append(f"{uc.get('n_misfit', 0)} units misfit, {uc.get('n_prior_dominated', 0)} "
                     f"parameters prior-dominated ({uc.get('n_pooled', 0)} pooled; see "
                     "diagnostics.json unit_checks)")
        weak = [str(w) for w in uc.get("prior_dominated") or []]
        if weak:  # what is weak, by name: the data say little about these
            more = f" and {len(weak) - 6} more" if len(weak) > 6 else ""
            lines.append("weakly identified (prior-dominated): " + ", ".join(weak[:6]) + more)
    if approx["diagnosed"]:
        lines.append(f"diagnostics {status}: {checks}")
    else:  # no convergence diagnostic exists for this approximation: only its own checks
        lines.append(f"checks {status} ({checks}); no convergence diagnostics apply")
    return "\n".join(lines)


def _execute(cfg: Config, prepared: tuple[Any, Any] | None, inputs: dict[str, Any],
             note: str = "") -> RunRecord:
    """Run one config (its run directory written atomically); never raises but for an
    interrupt."""
    import jax

    from .api import run_config
    from .errors import DiagnosticsWarning, DrugbayesWarning

    out = cfg.resolved_output_dir()
    rec = RunRecord(out.name, cfg.source or "<config>", str(out), "failed", note=note)
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DrugbayesWarning)
        try:
            result, _ = run_config(cfg, prepared, inputs=inputs)
            passed = bool(result.diagnostics["passed"])
            rec.state = "done" if passed else "diagnostics failed"
            rec.headline = headline_text(result, out.name)
            del result
        except DiagnosticsError as e:
            rec.state, rec.fatal, rec.note = "diagnostics failed", True, str(e)
        except InputError as e:
            rec.note = str(e)
        except Exception as e:  # noqa: BLE001 - one failing run does not stop the batch
            rec.note = f"{type(e).__name__}: {e}"
            log.exception("run %s failed", out.name)
        finally:
            rec.seconds = time.perf_counter() - t
            # each config compiles its own programs; free them, as every XLA:CPU executable
            # holds memory mappings and a long batch would otherwise exhaust vm.max_map_count
            jax.clear_caches()
    for w in caught:
        if issubclass(w.category, DiagnosticsWarning):
            continue  # the table says it
        if issubclass(w.category, DrugbayesWarning):
            rec.warnings.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rec


# ----------------------------------------------------------------------------- workers
_STOP = False
_IN_TASK = False


def _on_sigint(signum: int, frame: Any) -> None:
    """A worker's SIGINT: stop the run under way (its temporary folder is removed) and start
    no other. The batch sends it again until the run has stopped, as code under the fit may
    catch one interrupt."""
    global _STOP
    _STOP = True
    if _IN_TASK:
        raise KeyboardInterrupt


def _worker_init(quiet: bool) -> None:
    signal.signal(signal.SIGINT, _on_sigint)
    _worker_logging(quiet)


def _worker_logging(quiet: bool) -> None:
    if not quiet and not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(f"[drugbayes pid {os.getpid()}] %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a worker process: the config is read again from its file (with the
    batch's overrides) and must still have the inputs the batch checked."""
    global _IN_TASK
    cfg = load_config(job["config"], job["overrides"])
    out = cfg.resolved_output_dir()
    rec = RunRecord(out.name, cfg.source or "<config>", str(out), "interrupted")
    if _STOP:
        return asdict(rec)
    _IN_TASK = True
    try:
        inputs = inputs_fingerprint(cfg)
        if inputs["hash"] != job["inputs"]:
            rec.state, rec.note = "failed", "its config or data changed after the batch began"
            return asdict(rec)
        return asdict(_execute(cfg, None, inputs, job["note"]))
    except KeyboardInterrupt:
        rec.note = "interrupted (its temporary folder removed)"
        return asdict(rec)
    finally:
        _IN_TASK = False


def _ray_worker(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`_worker` in a Ray task (Ray turns a cancel into KeyboardInterrupt; its own
    SIGINT handling is kept)."""
    _worker_logging(job["quiet"])
    try:
        return _worker(job)
    finally:
        import jax

        jax.clear_caches()


# ----------------------------------------------------------------------------- executors
OnRecord = Callable[[RunRecord], None]


def _run_here(todo: list[tuple[Config, Any, dict, str]], on_record: OnRecord,
              records: list[RunRecord]) -> None:
    for cfg, prepared, inputs, note in todo:
        rec = _execute(cfg, prepared, inputs, note)
        records.append(rec)
        on_record(rec)


def _run_processes(jobs: list[dict[str, Any]], n: int, quiet: bool, on_record: OnRecord,
                   records: list[RunRecord]) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # workers share the accelerators: JAX must not preallocate most of a GPU's memory in
    # each (the variable is read when a worker's JAX starts; the user's setting is kept)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(quiet,))
    pending = {pool.submit(_worker, job): job for job in jobs}
    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                try:
                    rec = RunRecord(**fut.result())
                except BrokenProcessPool:
                    rec = RunRecord(job["name"], job["config"], job["run_dir"], "failed",
                                    note="its worker process died (killed or out of memory)")
                except Exception as e:  # noqa: BLE001
                    rec = RunRecord(job["name"], job["config"], job["run_dir"], "failed",
                                    note=f"{type(e).__name__}: {e}")
                records.append(rec)
                on_record(rec)
    except KeyboardInterrupt:
        _stop_workers(pool, pending)
        raise
    pool.shutdown(wait=True)


def _stop_workers(pool: Any, pending: dict, grace: float = 60.0) -> None:
    """Interrupt the workers' runs (each removes its temporary folder; the signal is sent
    again every 2 s until every run under way has returned), then end the workers."""
    from concurrent.futures import wait

    procs = list(getattr(pool, "_processes", {}).values())  # no public handle on them
    for fut in pending:
        fut.cancel()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        _, running = wait(pending, timeout=2.0)
        if not running:
            break
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(max(1.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()


def _local_ray_problem() -> str | None:
    """Why this process cannot start a Ray with every socket on 127.0.0.1, or None."""
    if os.environ.get(RAY_LOOPBACK_ENV, "0") != "0":
        return (f"{RAY_LOOPBACK_ENV}={os.environ[RAY_LOOPBACK_ENV]} is set: a Ray started "
                "here would listen on the machine's network address; unset it or pass "
                "--ray-address")
    if "ray" in sys.modules and RAY_LOOPBACK_ENV not in os.environ:
        return RAY_LOCAL_REFUSED
    return None


def _start_local_ray(num_cpus: int) -> Any:
    """A Ray on this machine only (every socket on 127.0.0.1, no dashboard, no usage
    reports), with ``num_cpus`` CPUs for runs; refused if its servers are not on 127.0.0.1."""
    # read by Ray when it is imported, and inherited by the servers and workers it starts
    os.environ[RAY_LOOPBACK_ENV] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    gcs = str(ray.get_runtime_context().gcs_address)
    if not gcs.startswith("127.0.0.1:"):
        ray.shutdown()
        raise ConfigError([Issue("--executor", None, None, "ray",
                                 f"the local Ray's server listens on {gcs}, not on 127.0.0.1; "
                                 "pass --ray-address of a Ray you started")])
    log.info("a local Ray with %d CPUs started (servers on %s, no dashboard); stopped at the "
             "end of the batch", num_cpus, gcs)
    return ray


def _run_ray(jobs: list[dict[str, Any]], address: str | None, retries: int,
             on_record: OnRecord, records: list[RunRecord], local_cpus: int = 1) -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError([Issue("--executor", None, None, "ray", "Ray is not installed: pip "
                                 "install 'drugbayes[ray]'")])
    started = False
    if address is None and not _ray_joined():
        ray = _start_local_ray(local_cpus)
        started = True  # stopped at the end
    else:
        import ray

        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=True)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ConfigError([Issue("--ray-address", None, None, str(address),
                                         f"no Ray cluster reached there ({e})")]) from None
            started = True  # disconnected at the end; the cluster keeps running
    # Ray gives a task with num_gpus its own CUDA_VISIBLE_DEVICES
    task = ray.remote(num_cpus=1, max_retries=retries)(_ray_worker)
    refs = {task.options(num_gpus=job["gpus"]).remote(job): job for job in jobs}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                job = refs.pop(ref)
                try:
                    rec = RunRecord(**ray.get(ref))
                except Exception as e:  # noqa: BLE001 - a task that failed all its tries
                    rec = RunRecord(job["name"], job["config"], job["run_dir"], "failed",
                                    note=f"{type(e).__name__}: {e}")
                records.append(rec)
                on_record(rec)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)  # KeyboardInterrupt in the task: its temporary folder removed
        for ref in refs:
            try:
                ray.get(ref, timeout=60)
            except Exception:  # noqa: BLE001, S110 - cancelled
                pass
        raise
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------- the batch
def _ray_joined() -> bool:
    """This process already joined a Ray (``ray.init`` by the caller)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def run_batch(configs: Sequence[str | Path], overrides: list[str] | None = None, *,
              force: bool = False, jobs: int = 1, executor: str = "local",
              ray_address: str | None = None, retries: int = 1,
              gpus_per_run: float | None = None,
              quiet: bool = True,
              on_record: OnRecord | None = None,
              records: list[RunRecord] | None = None) -> list[RunRecord]:
    """Run a batch of configs and return its table (a :class:`RunRecord` per config, in the
    order they finished).

    Parameters
    ----------
    configs : list of paths
    overrides : list of str
        ``section.key=value`` applied to every config.
    force : bool
        Redo every run, even one whose finished run directory records the same inputs.
    jobs : int
        Runs at once: 1 runs them in this process; more start that many local worker
        processes (with a Ray cluster, its CPUs decide: one per run; a Ray started for the
        batch gets ``jobs`` CPUs).
    executor : {"local", "ray"}
        ``ray``: each run a Ray task (retried ``retries`` times if its worker dies, given its
        config's ``[run] gpus`` GPUs), on the Ray cluster at ``ray_address`` (``"auto"``
        after ``ray start --head`` on this machine), on the Ray this process already
        joined with ``ray.init``, or, with neither, on a Ray started for the batch on this
        machine with ``jobs`` CPUs and every socket on 127.0.0.1 (``RAY_LOOPBACK_ENV`` set
        to 0 before Ray is imported; no dashboard), stopped at the end.
    gpus_per_run : float, optional
        GPUs each Ray task is given, for every config (default: each config's ``[run]
        gpus``).
    quiet : bool
        Workers print no progress lines.
    on_record : callable(RunRecord), optional
        Called as each run ends (e.g. to print its headline).
    records : list, optional
        Filled as runs end (so that a caller interrupted midway keeps what finished).

    Raises
    ------
    InputError
        A config or its data is bad, or the run directories clash: nothing was run.
    KeyboardInterrupt
        The batch was interrupted; runs under way removed their temporary folders.
    """
    if executor not in EXECUTORS:
        raise ConfigError([Issue("--executor", None, None, executor,
                                 f"expected one of {', '.join(EXECUTORS)}")])
    if jobs < 1:
        raise ConfigError([Issue("--jobs", None, None, str(jobs), "expected 1 or more")])
    if executor == "ray" and not ray_address and not _ray_joined():
        why = _local_ray_problem()
        if why is not None:
            raise ConfigError([Issue("--ray-address", None, None, "", why)])
    if gpus_per_run is not None and gpus_per_run < 0:
        raise ConfigError([Issue("--gpus-per-run", None, None, str(gpus_per_run),
                                 "expected 0 or more")])
    checked = _check(configs, overrides)
    records = records if records is not None else []
    on_record = on_record or (lambda rec: None)
    todo = []
    for path, cfg, prepared in checked:
        out = cfg.resolved_output_dir()
        inputs = inputs_fingerprint(cfg)
        why = finished_run_problem(out, inputs)
        if why is None and not force:
            rec = _skipped(cfg, out)
            log.info("%s: skipped (%s)", out.name, rec.note)
            records.append(rec)
            on_record(rec)
            continue
        note = ("redone (--force)" if force and why is None
                else "" if why in ("no run directory yet",) else f"redone: {why}")
        todo.append((path, cfg, prepared, inputs, note))
    if executor == "local" and jobs == 1:
        _run_here([(c, p, i, n) for _, c, p, i, n in todo], on_record, records)
    else:
        work = [{"config": str(path), "overrides": list(overrides or []),
                 "inputs": inputs["hash"], "note": note, "quiet": quiet,
                 "name": cfg.resolved_output_dir().name, "run_dir": str(
                     cfg.resolved_output_dir()),
                 "gpus": cfg.run.gpus if gpus_per_run is None else gpus_per_run}
                for path, cfg, _, inputs, note in todo]
        if executor == "ray":
            _run_ray(work, ray_address, retries, on_record, records, local_cpus=jobs)
        else:
            _run_processes(work, min(jobs, max(len(work), 1)), quiet, on_record, records)
    _write_indexes([cfg.resolved_output_dir() for _, cfg, _ in checked if cfg.report.html])
    return records


def _check(configs: Sequence[str | Path], overrides: list[str] | None
           ) -> list[tuple[str | Path, Config, tuple[Any, Any]]]:
    """Every config validated with its data, and the run directories checked, before
    anything runs (every problem at once)."""
    from .api import check_config

    checked = []
    issues: list[Issue | str] = []
    for c in configs:
        try:
            cfg = load_config(c, overrides)
            _, vt, data = check_config(cfg)
            checked.append((c, cfg, (vt, data)))
        except InputError as e:  # ConfigError, DataValidationError
            issues += e.issues
    issues += output_dir_issues([cfg for _, cfg, _ in checked])
    if issues:
        raise InputError(issues, title="invalid batch (nothing was run)")
    return checked


def _skipped(cfg: Config, out: Path) -> RunRecord:
    """The record of a run finished earlier with the same inputs; its diagnostics verdict
    as recorded (``diagnostics failed`` where they failed)."""
    import json

    rec = RunRecord(out.name, cfg.source or "<config>", str(out), "skipped",
                    note="finished earlier with the same inputs")
    try:
        passed = json.loads((out / "diagnostics.json").read_text()).get("passed", True)
    except (OSError, ValueError):
        passed = True
    if passed is False:
        rec.state = "diagnostics failed"
        rec.fatal = cfg.diagnostics.on_fail == "error"
        rec.note = "skipped: " + rec.note + " (diagnostics failed then)"
    return rec


def _write_indexes(run_dirs: list[Path]) -> None:
    """The index page of each folder holding the batch's run directories, where safe."""
    from .report.html import write_indexes

    for root, index, problem in write_indexes([d for d in run_dirs if d.is_dir()]):
        if index is not None:
            log.info("index of run directories: %s", index)
        else:
            log.info("no index page for %s: %s", root, problem)


def exit_code(records: Sequence[RunRecord]) -> int:
    """The worst state's exit code: 1 a run failed, 3 diagnostics failed with ``on_fail =
    "error"``, 130 interrupted, else 0 (:data:`EXIT_CODES`)."""
    if any(r.state == "interrupted" for r in records):
        return EXIT_CODES["interrupted"]
    if any(r.state == "failed" for r in records):
        return EXIT_CODES["failed"]
    if any(r.state == "diagnostics failed" and r.fatal for r in records):
        return EXIT_CODES["diagnostics failed"]
    return 0


def format_table(records: Sequence[RunRecord]) -> str:
    """The batch table: run, state, time, run directory (and a note where there is one)."""
    rows = [("run", "state", "time", "run directory")]
    rows += [(r.name, r.state, f"{r.seconds:.1f} s" if r.state != "skipped" else "-",
              r.run_dir) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row[:3], widths)), row[3]]).rstrip()
             for row in rows]
    notes = [f"  {r.name}: {r.note}" for r in records if r.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def run(configs: Sequence[str | Path], overrides: list[str] | None = None,
        on_result: Callable[[RunRecord], None] | None = None, **options: Any) -> list[Path]:
    """Run a batch of configs (:func:`run_batch`) and return the run directories of the runs
    done or skipped.

    Every config runs even if an earlier one fails.

    Raises
    ------
    InputError
        Bad configs, data or run directories (nothing was run).
    BatchError
        A run failed (after every run was tried), naming each.
    DiagnosticsError
        No run failed, but diagnostics failed with ``on_fail = "error"``.
    """
    records = run_batch(configs, overrides, on_record=on_result, **options)
    failed = [f"{r.name}: {r.note}" for r in records if r.state == "failed"]
    if failed:
        raise BatchError("; ".join(failed))
    bad = [r.note or r.name for r in records if r.state == "diagnostics failed" and r.fatal]
    if bad:
        raise DiagnosticsError("; ".join(bad))
    return [Path(r.run_dir) for r in records if r.state in ("done", "skipped",
                                                            "diagnostics failed")]
