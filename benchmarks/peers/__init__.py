"""Comparisons with peer tools: plain NumPyro, per-curve scipy fits, the synergy package."""
