"""What JAX sees (``drugbayes devices``): platform, devices and their memory, host memory, and
the largest screen the memory guard lets ``drugbayes.fit`` keep.

The guard (:func:`drugbayes.inference.blocked.driver.check_host_memory`) refuses a
``method = "screen"`` run whose draws (every draw of every unit, kept on the host for
``posterior.nc`` and ``summary.csv``) would take more than
:data:`~drugbayes.inference.blocked.driver.HOST_MEMORY_SHARE` of host memory; the largest
screen is the most units under that rule at the given chains and draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeviceReport", "device_report", "format_report"]


@dataclass
class DeviceReport:
    """What :func:`device_report` found."""

    jax_version: str
    platform: str
    devices: list[dict[str, Any]]
    host_bytes: int | None
    num_chains: int
    num_samples: int
    screens: list[dict[str, Any]] = field(default_factory=list)


def _plan_unit(fam: Any) -> tuple[str, int]:
    """The unit label and host bytes per unit draw of a family's blocked plan (built on the
    plan's own small contract problem: nothing is compiled)."""
    from .api import _spec, prepare

    table, options = fam.blocks.contract_data(0)
    _, data = prepare(table, kind=fam.kind, **options)
    spec = _spec({"family": fam.name}, fam.kind)
    plan, _ = fam.blocks.build(spec, fam.arrays(data))
    return plan.unit_label, int(plan.host_bytes_per_unit_draw)


def device_report(num_chains: int | None = None, num_samples: int | None = None
                  ) -> DeviceReport:
    """JAX's platform and devices (with memory where the device reports it), host memory, and
    per family with a blocked plan the largest screen the memory guard allows.

    Parameters
    ----------
    num_chains, num_samples : int, optional
        Chains and kept draws per chain (default: the ``[inference]`` defaults).
    """
    import jax

    from .config import InferenceConfig
    from .families import REGISTRY
    from .inference.blocked.driver import host_memory_bytes, max_units_on_host

    defaults = InferenceConfig()
    chains = num_chains or defaults.num_chains
    samples = num_samples or defaults.num_samples
    devices = []
    for d in jax.devices():
        try:
            stats = d.memory_stats() or {}
        except Exception:  # noqa: BLE001 (CPU devices may not report memory)
            stats = {}
        devices.append({"id": str(d), "kind": getattr(d, "device_kind", ""),
                        "memory_bytes": stats.get("bytes_limit"),
                        "in_use_bytes": stats.get("bytes_in_use")})
    host = host_memory_bytes()
    rep = DeviceReport(jax.__version__, jax.default_backend(), devices, host, chains, samples)
    for name, fam in REGISTRY.items():
        if fam.blocks is None:
            continue
        label, per_draw = _plan_unit(fam)
        rep.screens.append({"family": name, "unit": label, "bytes_per_unit_draw": per_draw,
                            "max_units": max_units_on_host(chains, samples, per_draw, host)})
    return rep


def _gib(b: int | None) -> str:
    return "unknown" if b is None else f"{b / 2 ** 30:.1f} GiB"


def format_report(rep: DeviceReport) -> str:
    """The report as the lines ``drugbayes devices`` prints."""
    from .inference.blocked.driver import HOST_MEMORY_SHARE

    lines = [f"JAX {rep.jax_version}, platform {rep.platform}, {len(rep.devices)} device(s):"]
    for d in rep.devices:
        mem = (f"memory {_gib(d['memory_bytes'])}"
               + (f" ({_gib(d['in_use_bytes'])} in use)" if d["in_use_bytes"] is not None
                  else "")
               if d["memory_bytes"] is not None else "memory not reported")
        lines.append(f"  {d['id']}  {d['kind']}  {mem}")
    lines.append(f"host memory: {_gib(rep.host_bytes)}")
    if rep.platform == "cpu":
        lines.append("no GPU: JAX runs on the CPU (pip install \"drugbayes[cuda]\" on a machine "
                     "with an NVIDIA GPU and driver)")
    lines.append(f"largest screen drugbayes.fit keeps (method = \"screen\"; every draw is kept "
                 f"on the host, at most {HOST_MEMORY_SHARE:.0%} of host memory), "
                 f"{rep.num_chains} chains x {rep.num_samples} draws:")
    for s in rep.screens:
        n = "unknown (host memory not reported)" if s["max_units"] is None \
            else f"{s['max_units']:,} {s['unit']}s"
        lines.append(f"  {s['family']}: {n} ({s['bytes_per_unit_draw']} bytes per "
                     f"{s['unit']} draw)")
    lines.append("fewer chains or draws fit more (drugbayes devices --chains N --samples N); "
                 "device memory is not part of this rule")
    return "\n".join(lines)
