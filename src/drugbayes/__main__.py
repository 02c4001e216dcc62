"""``python -m drugbayes`` = the ``drugbayes`` command."""

from .cli import command

if __name__ == "__main__":  # not when a spawned worker process imports it
    command()
