"""``drugbayes devices``: what JAX sees, and the largest screen by the memory guard's rule."""

from __future__ import annotations

import pytest

from drugbayes.cli import main
from drugbayes.devices import device_report
from drugbayes.errors import ConfigError
from drugbayes.inference.blocked.driver import check_host_memory, host_memory_bytes


def test_devices_prints_platform_memory_and_largest_screen(capsys):
    assert main(["devices", "--chains", "2", "--samples", "300"]) == 0
    out = capsys.readouterr().out
    assert "platform cpu" in out and "host memory:" in out and "2 chains x 300 draws" in out
    rep = device_report(2, 300)
    assert rep.screens, "no family has a blocked plan"
    for s in rep.screens:
        assert f"{s['family']}: {s['max_units']:,} {s['unit']}s" in out


def test_largest_screen_is_the_guards_limit():
    """The number printed is exactly where the guard starts refusing."""
    if host_memory_bytes() is None:
        pytest.skip("this system does not report its memory")
    for chains, samples in ((4, 500), (16, 2000)):
        for s in device_report(chains, samples).screens:
            n, per = s["max_units"], s["bytes_per_unit_draw"]
            assert n > 0
            check_host_memory(n, chains, samples, per, s["unit"])  # allowed
            with pytest.raises(ConfigError, match="at most"):
                check_host_memory(n + 1, chains, samples, per, s["unit"])
