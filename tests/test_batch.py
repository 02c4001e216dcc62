"""Batches: resume by the inputs hash, the batch table and exit codes, run directory safety,
SIGINT, parallel runs (``--jobs``) and Ray (a local Ray on 127.0.0.1, where Ray is
installed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import drugbayes.api as api
from drugbayes.batch import RunRecord, exit_code, format_table
from drugbayes.cli import main
from drugbayes.config import load_config
from drugbayes.outputs import finished_run_problem, input_files, inputs_fingerprint
from drugbayes.testing import kill_at_checkpoint, posterior_values

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "configs" / "smoke" / "data" / "percent_nM.csv"
SRC = str(REPO / "src")


def _config(folder: Path, name: str, seed: int = 0, extra: str = "", data: str = "data.csv",
            steps: int = 100) -> Path:
    """A tiny MAP config (point estimate, no plots, no report) writing results/<name>."""
    if not (folder / data).exists():
        shutil.copy(DATA, folder / data)
    p = folder / f"{name}.toml"
    p.write_text(f'[run]\nname = "{name}"\nseed = {seed}\n'
                 f'[data]\npath = "{data}"\ndose_unit = "nM"\nresponse_scale = "percent"\n'
                 f'[inference]\nmethod = "map"\nlaplace = false\nmap_num_steps = {steps}\n'
                 '[report]\nplots = false\nhtml = false\n' + extra)
    return p


def _run(capsys, *args):
    rc = main(["run", *map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def _states(out: str) -> dict[str, str]:
    """run name -> state, read from the printed batch table."""
    lines = out[out.index("run  state"):].splitlines()[1:]
    states = {}
    for line in lines:
        if not line.strip() or line.startswith("notes:"):
            break
        name, rest = line.split(None, 1)
        states[name] = "diagnostics failed" if rest.startswith("diagnostics failed") \
            else rest.split()[0]
    return states


def test_resume_skips_finished_runs_and_redoes_changed_ones(tmp_path, capsys):
    a, b = _config(tmp_path, "a"), _config(tmp_path, "b", seed=1)
    rc, out, _ = _run(capsys, a, b)
    assert rc == 0 and _states(out) == {"a": "done", "b": "done"}
    manifest = json.loads((tmp_path / "results" / "a" / "manifest.json").read_text())
    assert manifest["inputs"]["data"] == {
        str(tmp_path / "data.csv"): manifest["inputs"]["data"][str(tmp_path / "data.csv")]}
    stamp = (tmp_path / "results" / "a" / "manifest.json").stat().st_mtime_ns
    # the same batch again: both skipped, nothing rewritten
    rc, out, _ = _run(capsys, a, b)
    assert rc == 0 and _states(out) == {"a": "skipped", "b": "skipped"}
    assert "a: skipped (finished earlier with the same inputs)" in out
    assert (tmp_path / "results" / "a" / "manifest.json").stat().st_mtime_ns == stamp
    # b's config changes: only b is redone, and the note says why
    _config(tmp_path, "b", seed=2)
    rc, out, _ = _run(capsys, a, b)
    assert rc == 0 and _states(out) == {"a": "skipped", "b": "done"}
    assert "b: redone: the config changed" in out



def test_force_redoes_a_finished_run(tmp_path, capsys, monkeypatch):
    """--force tries a run whose directory matches (a stand-in run_config that fails shows
    that it was tried, without a fit); without --force it is skipped."""
    a = _config(tmp_path, "a")
    cfg = load_config(a)
    out = cfg.resolved_output_dir()
    out.mkdir(parents=True)
    (out / "diagnostics.json").write_text('{"passed": true}')
    (out / "manifest.json").write_text(json.dumps(
        {"complete": True, "files": ["diagnostics.json"], "inputs": inputs_fingerprint(cfg)}))

    def tried(cfg, prepared=None, inputs=None):
        raise RuntimeError("tried")

    monkeypatch.setattr(api, "run_config", tried)
    rc, text, _ = _run(capsys, a)
    assert rc == 0 and _states(text) == {"a": "skipped"}
    rc, text, _ = _run(capsys, a, "--force")
    assert rc == 1 and _states(text) == {"a": "failed"} and "tried" in text
    assert (out / "manifest.json").is_file()  # the finished directory is kept


def test_fingerprint_follows_data_contents_version_and_plate_files(tmp_path, monkeypatch):
    cfg = load_config(_config(tmp_path, "a"))
    fp = inputs_fingerprint(cfg)
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.csv").write_text("x\n")
    manifest = {"complete": True, "files": ["summary.csv"], "inputs": fp}
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert finished_run_problem(out, fp) is None
    # one byte of the data file changes: the run is redone, naming the file
    with open(tmp_path / "data.csv", "a") as f:
        f.write("\n")
    fp2 = inputs_fingerprint(cfg)
    assert fp2["config"] == fp["config"] and fp2["hash"] != fp["hash"]
    assert finished_run_problem(out, fp2) == "data changed (data.csv)"
    # another drugbayes version
    import drugbayes

    monkeypatch.setattr(drugbayes, "__version__", "99.0")
    assert "drugbayes 0.1.0 -> 99.0" in finished_run_problem(out, inputs_fingerprint(cfg))
    monkeypatch.undo()
    # a file listed in the manifest is missing; a file the manifest does not list is added
    (out / "summary.csv").unlink()
    assert "files missing" in finished_run_problem(out, fp)
    (out / "summary.csv").write_text("x\n")
    (out / "mine.txt").write_text("x\n")
    assert finished_run_problem(out, fp) == "not a finished run directory"
    # a plate config: the layout and every reading export (with its own layout) are inputs
    plate = tmp_path / "plate.toml"
    plate.write_text('[data]\nformat = "plate"\nlayout = "layout.csv"\n'
                     'readings = ["p1.csv", { path = "p2.xlsx", sheet = "S", '
                     'layout = "layout2.csv" }]\n')
    names = [p.name for p in input_files(load_config(plate))]
    assert names == ["layout.csv", "p1.csv", "p2.xlsx", "layout2.csv"]


def test_failing_run_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    real = api.run_config

    def flaky(cfg, prepared=None, inputs=None):
        if cfg.run.name == "a":
            raise RuntimeError("disk full")
        return real(cfg, prepared, inputs)

    monkeypatch.setattr(api, "run_config", flaky)
    a, b = _config(tmp_path, "a"), _config(tmp_path, "b")
    rc, out, err = _run(capsys, a, b)
    assert rc == 1
    assert _states(out) == {"a": "failed", "b": "done"}
    assert "a: RuntimeError: disk full" in out and "error: a: RuntimeError: disk full" in err
    assert not (tmp_path / "results" / "a").exists()
    assert (tmp_path / "results" / "b" / "manifest.json").is_file()


def test_exit_code_is_the_worst_state():
    def rec(state, fatal=False):
        return RunRecord("r", "c.toml", "/x/r", state, 1.0, fatal=fatal)

    assert exit_code([rec("done"), rec("skipped")]) == 0
    assert exit_code([rec("done"), rec("diagnostics failed")]) == 0  # on_fail = "warn"
    assert exit_code([rec("done"), rec("diagnostics failed", True)]) == 3
    assert exit_code([rec("diagnostics failed", True), rec("failed")]) == 1
    assert exit_code([rec("failed"), rec("interrupted")]) == 130
    table = format_table([rec("done"), rec("skipped")])
    assert table.splitlines()[0].split() == ["run", "state", "time", "run", "directory"]
    assert "1.0 s" in table and " - " in table


def test_two_configs_writing_one_directory_are_refused_before_running(tmp_path, capsys):
    a = _config(tmp_path, "a")
    b = _config(tmp_path, "b")
    b.write_text(b.read_text().replace('name = "b"', 'name = "a"'))
    rc, out, err = _run(capsys, a, b)
    assert rc == 2 and "the same run directory" in err and "nothing was run" in err
    assert not (tmp_path / "results").exists()


def _wait_for_fitting(results: Path, name: str, proc: subprocess.Popen,
                      timeout: float) -> bool:
    """Until the run's log (in its temporary folder) shows a finished compiled chunk."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        for log in results.glob(f".{name}.incomplete-*/run.log"):
            try:
                if "map: step" in log.read_text():
                    return True
            except OSError:
                continue
        time.sleep(0.1)
    return False


# ``python -m drugbayes`` with SIGINT's default handler, whatever the suite inherited: a test
# run started as a background job of a non-interactive shell has SIGINT ignored, which its
# subprocesses inherit and Python then leaves ignored, so the interrupt these tests send would
# never arrive. (Set in the child's own Python: a ``preexec_fn`` would fork the multithreaded
# test process.)
DRUGBAYES_WITH_SIGINT = [sys.executable, "-c",
                         "import runpy, signal; "
                         "signal.signal(signal.SIGINT, signal.default_int_handler); "
                         "runpy.run_module('drugbayes', run_name='__main__', alter_sys=True)"]


def test_sigint_stops_cleanly_and_keeps_the_old_run_directory(tmp_path):
    """SIGINT mid-fit: exit 130, a message, the temporary folder removed and the finished run
    directory it was to replace left as it was.

    The signal is sent once the fit runs its compiled chunks (Python handles a signal only
    when XLA returns to it: sent during a compilation, which took over a minute on 2 loaded
    cores, it waits for the compilation's end). The command then ends at once: before, the
    interpreter's finalisation (freeing JAX's compiled programs) took 10 s to over a minute
    on loaded cores, which made this test time out in the full suite."""
    cfg = _config(tmp_path, "a", steps=10_000_000)  # chunks of 20 steps: stops in between
    cfg.write_text(cfg.read_text().replace("map_num_steps", "chunk_size = 5\nmap_num_steps"))
    old = tmp_path / "results" / "a"
    old.mkdir(parents=True)
    (old / "summary.csv").write_text("old\n")
    (old / "manifest.json").write_text(json.dumps({"complete": True,
                                                   "files": ["summary.csv"]}))
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*DRUGBAYES_WITH_SIGINT, "run", str(cfg), "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        started = _wait_for_fitting(old.parent, "a", proc, 600)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert started, err
    assert proc.returncode == 130, err
    assert "interrupted" in err and "temporary folders removed" in err
    assert sorted(p.name for p in old.parent.iterdir()) == ["a"]  # no .incomplete folder
    assert (old / "summary.csv").read_text() == "old\n"


@pytest.mark.slow  # two spawned workers each import JAX and compile: about 25 s on 2 cores
def test_jobs_runs_in_worker_processes_with_the_same_table(tmp_path, capsys):
    a, b = _config(tmp_path, "a"), _config(tmp_path, "b", seed=1)
    rc, out, err = _run(capsys, a, b, "--jobs", "2")
    assert rc == 0, err
    assert _states(out) == {"a": "done", "b": "done"}
    for name in ("a", "b"):
        m = json.loads((tmp_path / "results" / name / "manifest.json").read_text())
        assert m["complete"] and m["inputs"]["hash"]
    assert "IC50" in out  # each run's headline, printed by the parent
    rc, out, _ = _run(capsys, a, b, "--jobs", "2")
    assert rc == 0 and _states(out) == {"a": "skipped", "b": "skipped"}


def test_batch_module_names_no_family_and_no_backend():
    """batch.py asks the registries like api and cli (docstrings and comments aside)."""
    import ast

    from drugbayes.families import REGISTRY
    from drugbayes.inference.registry import BACKENDS

    code = ast.unparse(ast.parse((REPO / "src" / "drugbayes" / "batch.py").read_text()))
    strings = {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)}
    assert not strings & (set(REGISTRY) | set(BACKENDS))


def _ray_worker_pids() -> list[int]:
    """Processes running a drugbayes run as a Ray task (Ray titles them after the task)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::_ray_worker" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def test_a_local_ray_that_could_leave_127_0_0_1_is_refused_before_anything_runs(
        tmp_path, capsys, monkeypatch):
    """Without --ray-address drugbayes starts a Ray on 127.0.0.1 only; where the setting that
    keeps it there is set otherwise: exit 2 with the reason, nothing written (Ray need not be
    installed to say so)."""
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")
    a = _config(tmp_path, "a")
    rc, out, err = _run(capsys, a, "--executor", "ray", "--jobs", "2")
    assert rc == 2
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1" in err and "--ray-address" in err
    assert not (tmp_path / "results").exists()


def test_a_ray_started_for_the_batch_listens_on_127_0_0_1_only(tmp_path):
    """``--executor ray --jobs 2`` without an address: drugbayes starts a Ray of 2 CPUs,
    every listening socket of it (servers, workers, driver) on a loopback address while the
    runs go, the batch table all done, and no Ray process left afterwards."""
    ray_requirement()
    short = _config(tmp_path, "r0", seed=0)
    long = _config(tmp_path, "r1", seed=1, steps=30_000)
    long.write_text(long.read_text().replace("map_num_steps", "chunk_size = 25\nmap_num_steps"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "drugbayes", "run", str(short), str(long), "--quiet",
           "--executor", "ray", "--jobs", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    results = tmp_path / "results"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not (
                list(results.glob(".r1.incomplete-*")) and _ray_worker_pids()):
            time.sleep(0.2)
        sockets = _listening_sockets(proc.pid)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert sockets and all(_loopback(a) for _, a in sockets), sockets
    assert _states(out) == {"r0": "done", "r1": "done"}
    time.sleep(2)
    assert not _ray_worker_pids()


def test_run_gpus_is_a_config_key_outside_the_inputs_hash(tmp_path):
    """``[run] gpus`` (the Ray task's GPUs) is validated and does not make a finished run
    look changed."""
    from drugbayes.errors import ConfigError

    a = _config(tmp_path, "a")
    base = load_config(a)
    assert base.run.gpus == 0
    one = load_config(a, ["run.gpus=1"])
    assert one.run.gpus == 1
    assert inputs_fingerprint(one)["hash"] == inputs_fingerprint(base)["hash"]
    for bad in ("-1", "inf", "nan"):
        with pytest.raises(ConfigError, match="gpus"):
            load_config(a, [f"run.gpus={bad}"])


def _listening_sockets(root: int) -> list[tuple[int, str]]:
    """(pid, local address) of every listening TCP socket and every bound UDP socket of
    ``root``'s process tree, read from /proc (what ``ss -ltunp`` shows)."""
    import ipaddress

    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    owner: dict[str, int] = {}  # socket inode -> pid
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    owner[link[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[9] not in owner or (table.startswith("tcp") and f[3] != "0A"):
                continue  # another process's, or a TCP socket not listening
            host, port = f[1].split(":")
            # the kernel writes each 32-bit word of the address in host (little-endian) order
            raw = b"".join(bytes.fromhex(host[i:i + 8])[::-1] for i in range(0, len(host), 8))
            found.append((owner[f[9]], f"{ipaddress.ip_address(raw)}:{int(port, 16)}"))
    return found


def _loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def ray_requirement() -> None:
    """Skip where Ray is not installed, unless ``DRUGBAYES_REQUIRE_RAY`` is set (CI, which
    installs the ``ray`` extra): then its absence fails."""
    if os.environ.get("DRUGBAYES_REQUIRE_RAY"):
        import ray  # noqa: F401
    else:
        pytest.importorskip("ray")


def test_ray_batch_retries_a_killed_worker_and_resumes(tmp_path):
    """4 configs on a Ray of 2 CPUs on this machine (started by the test, as a user would with
    `ray start --head`), every socket of it listening on 127.0.0.1 only; the workers of the
    runs under way are killed (-9) while the long one fits: Ray runs them again and the batch
    table ends all done; a rerun skips all four."""
    ray_requirement()
    cfgs = [_config(tmp_path, f"r{i}", seed=i) for i in range(3)]
    long = _config(tmp_path, "r3", seed=3, steps=30_000)
    long.write_text(long.read_text().replace("map_num_steps", "chunk_size = 25\nmap_num_steps"))
    # Ray's token authentication (on by default for local clusters since Ray 2.59): the
    # drugbayes process is given the test Ray's token as a user's shell would be. Ray takes
    # a Linux machine's node address to be its network one (`--node-ip-address 127.0.0.1`
    # is replaced by it) and then listens there or on every interface; with
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (single-machine Ray) it uses 127.0.0.1 for all
    import secrets

    env = dict(os.environ, PYTHONUNBUFFERED="1", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
               RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    # a fresh interpreter starts the Ray: Ray reads these variables when it is imported
    start = ("import ray, sys; ray.init(num_cpus=2, include_dashboard=False); "
             "print(ray.get_runtime_context().gcs_address, flush=True); sys.stdin.read()")
    head = subprocess.Popen([sys.executable, "-c", start], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        address = head.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), f"the test's Ray did not start: {address!r}"
        _ray_batch_killed_and_rerun(tmp_path, cfgs, long, env, address, head.pid)
    finally:
        head.stdin.close()  # its ray.shutdown at exit stops the test's Ray
        head.wait(timeout=120)


def _ray_batch_killed_and_rerun(tmp_path, cfgs, long, env, address, head):
    cmd = [sys.executable, "-m", "drugbayes", "run", *map(str, [*cfgs, long]), "--quiet",
           "--executor", "ray", "--ray-address", address]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    results = tmp_path / "results"

    def long_one_fitting() -> bool:  # its run directory under way (from before its compile)
        return bool(list(results.glob(".r3.incomplete-*")))

    try:
        # as soon as the long run is under way, every busy Ray worker is killed (the long
        # run's and any short run's still going): waiting for the short ones to finish first
        # depended on the long run outlasting them, which a loaded machine did not keep
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not long_one_fitting():
            time.sleep(0.1)
        killed = _ray_worker_pids() if long_one_fitting() and proc.poll() is None else []
        # the Ray's servers, its workers and the drugbayes process's own Ray driver
        sockets = _listening_sockets(head) + _listening_sockets(proc.pid)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, err
    assert sockets and all(_loopback(a) for _, a in sockets), sockets
    assert proc.returncode == 0, err
    assert _states(out) == {f"r{i}": "done" for i in range(4)}
    assert json.loads((results / "r3" / "manifest.json").read_text())["complete"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert _states(res.stdout) == {f"r{i}": "skipped" for i in range(4)}


@pytest.mark.slow  # two spawned workers each import JAX
def test_sigint_stops_the_worker_processes_runs(tmp_path):
    """SIGINT to the batch process only (as `kill -INT`): it interrupts the workers' runs,
    which remove their temporary folders; exit 130, nothing partial left."""
    cfgs = []
    for name in ("a", "b"):
        c = _config(tmp_path, name, steps=10_000_000)
        c.write_text(c.read_text().replace("map_num_steps", "chunk_size = 5\nmap_num_steps"))
        cfgs.append(c)
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*DRUGBAYES_WITH_SIGINT, "run", *map(str, cfgs),
                             "--quiet", "--jobs", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    results = tmp_path / "results"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and \
                len(list(results.glob(".*.incomplete-*"))) < 2:
            time.sleep(0.2)
        assert len(list(results.glob(".*.incomplete-*"))) == 2
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(results.iterdir()) == []


def test_temporary_folders_of_killed_runs_are_removed(tmp_path):
    """`kill -9` leaves `.<name>.incomplete-<pid>@<host>-*`; the next run of that directory
    removes it when the process is gone, never one of a live process or another host."""
    from drugbayes.outputs import _HOST, assembling

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "a"
    stale = tmp_path / f".a.incomplete-{dead.pid}@{_HOST}-ab12_x9z"
    live = tmp_path / f".a.incomplete-{os.getpid()}@{_HOST}-cd34_y8w"
    other = tmp_path / f".a.incomplete-{dead.pid}@another-host-ef56_z7v"
    for d in (stale, live, other):
        d.mkdir()
        (d / "posterior.nc").write_text("partial")
    with pytest.raises(RuntimeError), assembling(out) as tmp:
        assert tmp.name.startswith(f".a.incomplete-{os.getpid()}@{_HOST}-")
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def _nuts_config(folder: Path, name: str, checkpoint_every: int) -> Path:
    p = _config(folder, name, seed=5)
    p.write_text(p.read_text().replace(
        'method = "map"\nlaplace = false\nmap_num_steps = 100\n',
        'method = "nuts"\nnum_chains = 2\nnum_warmup = 150\nnum_samples = 400\n'
        f'chunk_size = 10\ncheckpoint_every = {checkpoint_every}\nmap_num_steps = 100\n'))
    return p


@pytest.mark.slow  # three NUTS runs in subprocesses
@pytest.mark.parametrize("kill_in", ["sampling", "warmup"])
def test_nuts_checkpoint_resume_after_kill_gives_identical_draws(tmp_path, kill_in):
    """kill -9 mid-sampling (after a checkpoint of at least 100 draws per chain) or
    mid-warmup (after a checkpoint of 10 to 140 of its 150 steps) with [inference]
    checkpoint_every = 1, then the same command again: it continues from the checkpoint and
    its posterior.nc equals, bit for bit, that of an uninterrupted run without checkpoints
    (same seed)."""
    import numpy as np

    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    plain = _nuts_config(tmp_path, "plain", 0)
    subprocess.run([sys.executable, "-m", "drugbayes", "run", str(plain), "--quiet"], env=env,
                   check=True, capture_output=True, timeout=600)
    cfg = _nuts_config(tmp_path, "ck", 1)
    ck = tmp_path / "results" / ".ck.checkpoint.npz"
    cmd = [sys.executable, "-m", "drugbayes", "run", str(cfg), "--quiet"]
    def due(header: dict) -> bool:
        if kill_in == "sampling":
            return header["draws"] >= 100
        return 0 < header["warmup_steps"] < 150

    header = kill_at_checkpoint(cmd, env, ck, due, poll=0.02)
    assert header and due(header) and header["draws"] < 400
    assert not (tmp_path / "results" / "ck").exists()
    res = subprocess.run(cmd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "results" / "ck" / "run.log").read_text()
    assert "resumed from checkpoint" in log
    assert not ck.exists()  # removed once the run directory is in place
    a, b = posterior_values(tmp_path / "results" / "plain"), \
        posterior_values(tmp_path / "results" / "ck")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_a_batch_writes_one_index_linking_each_run_with_its_state(tmp_path, capsys):
    """A CLI batch of two configs with reports on: one ``index.html`` in their output root,
    a row per run linking its report, with its pass/fail state."""
    a = _config(tmp_path, "a", seed=0)
    b = _config(tmp_path, "b", seed=1)
    for p in (a, b):
        p.write_text(p.read_text().replace("html = false", "html = true"))
    rc, out, err = _run(capsys, a, b)
    assert rc == 0, err
    assert _states(out) == {"a": "done", "b": "done"}
    text = (tmp_path / "results" / "index.html").read_text()
    for name in ("a", "b"):
        assert f'data-run="{name}"' in text
        assert f'href="{name}/report.html"' in text
        assert (tmp_path / "results" / name / "report.html").is_file()
    assert text.count("<tr data-run=") == 2
