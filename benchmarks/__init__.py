"""Benchmarks of drugbayes (see README.md): run each as ``python -m benchmarks.<group>.<name>``
from the repository root."""
