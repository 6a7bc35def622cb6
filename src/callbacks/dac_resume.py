"""DAC runs that survive an interruption: the state at the start of every epoch is kept in
``<run_dir>/dac_resume.pt`` and an interrupted run, started again with the same run directory
and config, carries on from its last finished epoch.

The file holds only tensors and plain values (loaded with ``weights_only=True``): the network's
and the optimiser's state, the module's epoch counters and λ, the history rows so far, the
random-number states, the training seconds spent, and a fingerprint of the config that decides
the arithmetic. It is written, atomically, at the first step of each epoch after the first
(the point the resumed run restores to, so a resumed run draws the same random numbers as one
that never stopped), and deleted once training has ended. A file whose fingerprint differs from the
run's is ignored with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from src.core.io_utils import atomic_torch_save

log = logging.getLogger(__name__)

RESUME_FILE = "dac_resume.pt"
RESUME_VERSION = 1
# the config that decides what a DAC run computes (paths, logging and progress bars do not)
FINGERPRINT_KEYS = ("method", "arch", "dataset", "seed", "n_clusters", "fast")


def config_fingerprint(cfg: DictConfig) -> str:
    """SHA-256 of the resolved config keys that decide the run's arithmetic."""
    picked = {}
    for key in FINGERPRINT_KEYS:
        node = cfg.get(key)
        picked[key] = (
            OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        )
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class DACResume(L.Callback):
    """Saves the run's state at every epoch's first step and restores it on the first one.

    ``stop`` is the run's :class:`src.callbacks.dac.DACThresholdStop`: its history is restored
    at construction, so that it does not score the initial network again.
    """

    def __init__(self, run_dir: str | Path, fingerprint: str, stop: Any) -> None:
        super().__init__()
        self.path = Path(run_dir) / RESUME_FILE
        self.fingerprint = fingerprint
        self.stop = stop
        self.saved = self._load()
        self.resumed_from_epoch = int(self.saved["epochs_done"]) if self.saved else None
        self.earlier_train_s = float(self.saved["train_s"]) if self.saved else 0.0
        if self.saved:
            stop.history = list(self.saved["history"])
        self._started = time.perf_counter()

    def _load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable file: start over, and say so
            log.warning("DAC: %s cannot be read (%s); training from the start", self.path, exc)
            return None
        if saved.get("version") != RESUME_VERSION or saved.get("fingerprint") != self.fingerprint:
            log.warning(
                "DAC: %s was written by a run with another config or format; training from the "
                "start (delete it to silence this)",
                self.path,
            )
            return None
        return saved

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        """The run's counters, before the first epoch starts: every epoch-start hook (the
        progress bar's label among them) sees the resumed epoch, not 0."""
        if self.saved is not None:
            pl_module.epochs_done = int(self.saved["epochs_done"])
            pl_module.steps_taken = int(self.saved["steps_taken"])
            pl_module.lam = float(self.saved["lam"])

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        """At an epoch's first step, right before its plan draws its first random numbers
        (Lightning's own draws between epochs, such as the data loader's seed, fall before)."""
        if batch_idx != 0:
            return
        if self.saved is not None:
            self._restore(trainer, pl_module, self.saved)
            self.saved = None
            return
        if pl_module.epochs_done > 0 and pl_module.world[1] == 1 and trainer.is_global_zero:
            self._save(trainer, pl_module)

    def _restore(self, trainer: L.Trainer, pl_module: Any, saved: dict[str, Any]) -> None:
        """Weights, optimiser and random state (the counters came back in ``on_train_start``)."""
        pl_module.net.load_state_dict(saved["net"])
        trainer.optimizers[0].load_state_dict(saved["optimizer"])
        _set_rng_state(saved["rng"])
        print(
            f"DAC: resumed after epoch {pl_module.epochs_done} from {self.path}",
            flush=True,
        )

    def _save(self, trainer: L.Trainer, pl_module: Any) -> None:
        state = {
            "version": RESUME_VERSION,
            "fingerprint": self.fingerprint,
            "net": {k: v.detach().cpu() for k, v in pl_module.net.state_dict().items()},
            "optimizer": trainer.optimizers[0].state_dict(),
            "epochs_done": pl_module.epochs_done,
            "steps_taken": pl_module.steps_taken,
            "lam": pl_module.lam,
            "history": self.stop.history,
            "rng": _rng_state(),
            "train_s": self.earlier_train_s + time.perf_counter() - self._started,
        }
        atomic_torch_save(self.path, state)

    def finished(self) -> None:
        """Training ended: the resume file has served its purpose."""
        self.path.unlink(missing_ok=True)
