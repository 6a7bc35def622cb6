"""DEC's stopping rule stops exactly when the label-change fraction drops below tol."""

from types import SimpleNamespace

import torch

from src.callbacks.dec_tolerance import DECToleranceStop, LabelChangeTracker


def changed(labels: torch.Tensor, n: int) -> torch.Tensor:
    out = labels.clone()
    out[:n] = (out[:n] + 1) % 10
    return out


def test_tracker_stops_exactly_below_tol():
    base = torch.arange(1000) % 10
    tracker = LabelChangeTracker(tol=0.001)
    assert tracker.update(base) is None and not tracker.converged  # first update: no check
    assert tracker.update(changed(base, 50)) == 0.05 and not tracker.converged
    # 50 → 51 changed points: exactly 1 of 1000 differs from the previous update = tol
    assert tracker.update(changed(base, 51)) == 0.001
    assert not tracker.converged  # 0.001 is not < 0.001
    assert tracker.update(changed(base, 51)) == 0.0 and tracker.converged


class FakeModule:
    def __init__(self, sequence):
        self.sequence = list(sequence)
        self.calls = 0
        self.stopped = False

    def update_target(self):
        self.calls += 1
        return self.sequence.pop(0)


def test_callback_updates_every_interval_and_stops():
    base = torch.zeros(100, dtype=torch.long)
    seq = [base, changed(base, 10), changed(base, 9), changed(base, 9), base]
    logged = []
    y = (torch.arange(100) % 2).numpy()
    cb = DECToleranceStop(
        update_interval=4,
        tol=0.05,
        y=y,
        log_fn=lambda d, step: logged.append((step, d)),
    )
    module, trainer = FakeModule(seq), SimpleNamespace(should_stop=False)
    starts = []
    for start in range(0, 40, 2):  # chunks of 2 iterations
        if trainer.should_stop:
            break
        cb.on_train_batch_start(trainer, module, (start, 2), start // 2)
        starts.append(start)
    # updates at 0, 4, 8, 12: fractions 0.1, 0.01 (< 0.05 → stop at iteration 8)
    assert module.calls == 3 and cb.stopped_at == 8
    assert module.stopped and trainer.should_stop
    assert [s for s, _ in logged] == [0, 4, 8]
    assert logged[1][1]["dec/label_change"] == 0.1 and logged[2][1]["dec/label_change"] == 0.01
    assert "dec/label_change" not in logged[0][1] and logged[0][1]["dec/acc"] == 0.5
    assert logged[0][1]["dec/nmi"] == 0.0 and logged[0][1]["dec/ari"] == 0.0  # one cluster
    # the on-device count table gives exactly the host metrics
    from src.recording.metrics import evaluate

    assert logged[1][1]["dec/acc"] == evaluate(y, changed(base, 10).numpy())["acc"]
    assert cb.tracker.history == [0.1, 0.01]
