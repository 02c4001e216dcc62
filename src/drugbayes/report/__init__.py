"""Summary tables, plots and run directories."""
