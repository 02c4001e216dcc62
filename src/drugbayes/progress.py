"""Progress of long runs: a bar on a terminal, plain lines in logs and CI.

The back-ends log their progress between compiled chunks as ordinary log records (so
``run.log`` keeps every line) that carry ``extra=progress_extra(done, total, task)``. The
command line's :class:`ProgressHandler` draws those records as a tqdm bar per task when its
stream is a terminal, and writes every record as a plain line otherwise.
"""

from __future__ import annotations

import logging
import shutil
import sys
from typing import IO, Any

__all__ = ["ProgressHandler", "progress_extra"]


def progress_extra(done: int, total: int, task: str) -> dict[str, Any]:
    """The ``extra`` of a progress log record: ``done`` of ``total`` steps of ``task``."""
    return {"progress": (str(task), int(done), int(total))}


class ProgressHandler(logging.Handler):
    """Log records to a stream; progress records as tqdm bars where the stream is a terminal.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``.
    bars : bool, optional
        Draw bars; default: whether ``stream`` is a terminal.
    """

    def __init__(self, stream: IO[str] | None = None, bars: bool | None = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        if bars is None:
            isatty = getattr(self.stream, "isatty", None)
            bars = bool(isatty()) if callable(isatty) else False
        self.bars = bars
        self._open: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prog = getattr(record, "progress", None)
            if self.bars and prog is not None:
                task, done, total = prog
                self._advance(task, done, total, record)
                return
            text = self.format(record)
            if self._open:
                from tqdm import tqdm

                tqdm.write(text, file=self.stream)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()
        except Exception:  # noqa: BLE001 (logging must never break a run)
            self.handleError(record)

    def _advance(self, task: str, done: int, total: int, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        bar = self._open.get(task)
        if bar is None:
            # the terminal's size, 100 x 20 where it reports none (a bare pseudo-terminal,
            # where tqdm would otherwise draw nothing)
            size = shutil.get_terminal_size((100, 20))
            bar = tqdm(total=total, desc=task, file=self.stream, leave=True, ncols=size.columns,
                       nrows=size.lines, mininterval=0, miniters=1,
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} "
                                  "[{elapsed}<{remaining}] {postfix}")
            self._open[task] = bar
        bar.total = total
        # the record's own words after its task name (the loss, divergences so far)
        msg = record.getMessage()
        tail = msg.split(f"{done}/{total}", 1)[-1].lstrip(" ,")
        bar.set_postfix_str(tail[:60], refresh=False)
        bar.update(max(done - bar.n, 0))
        if done >= total:
            bar.close()
            del self._open[task]

    def close(self) -> None:
        """Close any bar left open, then the handler."""
        for bar in self._open.values():
            bar.close()
        self._open.clear()
        super().close()
