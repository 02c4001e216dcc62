"""Validation: real data against published fits, and calibration on simulated studies."""
