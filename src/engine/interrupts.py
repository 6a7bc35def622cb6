"""SIGINT and SIGTERM stop a run as a failure: exit 128 + the signal's number (130, 143) with
one line, no traceback, and no ``result.json`` (the run does not look finished).

Lightning would otherwise take SIGTERM as "stop training early" and let the run finish and
exit 0, and turn Ctrl+C into exit 1 with a traceback tail.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """A stop signal arrived; a ``BaseException`` so that no ``except Exception`` (the
    run's, Hydra's or Lightning's) takes it for an error it may handle and continue."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def message(self) -> str:
        name = signal.Signals(self.signum).name
        return (
            f"stopped by {name}: the run did not finish (no result.json written); "
            "run the same command again"
        )


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    for sig in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
        signal.signal(sig, signal.SIG_IGN)
    raise RunInterrupted(signum)


def install_stop_handlers() -> None:
    """Make SIGINT and SIGTERM raise :class:`RunInterrupted` in the main thread."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_interrupted)
