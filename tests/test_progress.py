"""The progress bar names the phase (not ``Epoch 0/0``), its iterations or DAC epoch, and
drops ``v_num``."""

from __future__ import annotations

from types import SimpleNamespace

from src.callbacks.progress import PhaseProgressBar, phase_label


def bar_for(phase: str, **trainer_attrs) -> PhaseProgressBar:
    bar = PhaseProgressBar(phase)
    bar._trainer = SimpleNamespace(**trainer_attrs)
    return bar


def test_phase_labels():
    assert phase_label("pretrain_layer3") == "SAE layer 3"
    assert phase_label("pretrain_finetune") == "SAE fine-tune"
    assert phase_label("dec") == "DEC (KL)"
    assert phase_label("something_else") == "something else"


def test_chunked_phase_shows_its_iterations():
    loader = SimpleNamespace(dataset=[(0, 200), (200, 200), (400, 100)])
    bar = bar_for("pretrain_layer2", train_dataloader=loader, max_steps=-1)
    assert bar._get_train_description(0) == "SAE layer 2 · 500 it"


def test_dac_shows_epoch_of_total():
    module = SimpleNamespace(max_epochs=46)
    bar = bar_for("dac", train_dataloader=None, lightning_module=module)
    assert bar._get_train_description(4) == "DAC epoch 5/46"


def test_a_resumed_dac_run_shows_its_own_epoch_not_lightnings():
    """After a resume Lightning's ``current_epoch`` restarts at 0; the module's ``epochs_done``
    (restored) names the epoch in progress."""
    module = SimpleNamespace(max_epochs=20, epochs_done=2)
    bar = bar_for("dac", train_dataloader=None, lightning_module=module)
    assert bar._get_train_description(0) == "DAC epoch 3/20"


def test_no_v_num():
    bar = bar_for(
        "dec",
        loggers=[SimpleNamespace(version="abcdx3y0")],
        progress_bar_metrics={"loss": 0.5},
    )
    assert bar.get_metrics(bar._trainer, None) == {"loss": 0.5}


def test_chunked_phase_counts_iterations_and_advances_the_run_eta():
    """With 200-iteration chunks the bar's total and position are iterations (not chunks), and
    each chunk's end moves the run's ETA."""
    from src.engine.run_eta import RunETA

    loader = SimpleNamespace(dataset=[(0, 200), (200, 200), (400, 100)])
    eta = RunETA()
    eta.plan("pretrain_layer2", 500, 1.0)
    bar = PhaseProgressBar("pretrain_layer2", eta=eta)
    bar._trainer = SimpleNamespace(
        train_dataloader=loader, max_steps=-1, is_global_zero=True, current_epoch=0,
        progress_bar_metrics={}, loggers=[],
    )  # fmt: skip
    assert bar.total_train_batches == 500
    bar.disable()  # no terminal: the counts still move
    bar.on_train_start(bar._trainer, None)
    bar.on_train_batch_end(bar._trainer, None, None, (200, 200), 1)
    assert eta.phases["pretrain_layer2"].done == 400
    bar.on_train_end(bar._trainer, None)
    assert eta.phases["pretrain_layer2"].iterations == 400  # ended early: the rest is dropped


def test_background_run_logs_its_progress(caplog):
    """No terminal watching: each chunk's end past ``report_every_s`` writes a progress line
    (phase, iterations done of planned, percent) to the log; a terminal's bar writes none."""
    import logging

    loader = SimpleNamespace(dataset=[(0, 200), (200, 200), (400, 100)])
    trainer = SimpleNamespace(
        train_dataloader=loader, max_steps=-1, is_global_zero=True, current_epoch=0,
        progress_bar_metrics={}, loggers=[],
    )  # fmt: skip
    lines = []
    for every in (0.0, 3600.0):
        bar = PhaseProgressBar("pretrain_finetune", report_every_s=every)
        bar._trainer = trainer
        bar.disable()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="dcrepro"):
            bar.on_train_start(trainer, None)
            for chunk in loader.dataset:
                bar.on_train_batch_end(trainer, None, None, chunk, 0)
        lines.append([r.getMessage() for r in caplog.records])
    assert lines[0] == [
        "SAE fine-tune: 200/500 it (40 %)",
        "SAE fine-tune: 400/500 it (80 %)",
        "SAE fine-tune: 500/500 it (100 %)",
    ]
    assert lines[1] == []  # not yet an hour


def test_epoch_phase_logs_its_steps_in_the_epoch(caplog):
    """DAC's phase is epoch-based (no chunk plan): a background run logs the steps done of the
    epoch's, with the epoch of the module's ``max_epochs``."""
    import logging

    trainer = SimpleNamespace(
        train_dataloader=None, num_training_batches=4, current_epoch=2, max_steps=-1,
        is_global_zero=True, progress_bar_metrics={}, loggers=[],
        lightning_module=SimpleNamespace(max_epochs=20),
    )  # fmt: skip
    bar = PhaseProgressBar("dac", report_every_s=0.0)
    bar._trainer = trainer
    bar.disable()
    with caplog.at_level(logging.INFO, logger="dcrepro"):
        for step in range(0, 4, 2):
            bar.on_train_batch_end(trainer, None, None, step, step)
    assert [r.getMessage() for r in caplog.records] == [
        "DAC epoch 3/20: 1/4 steps (25 %)",
        "DAC epoch 3/20: 3/4 steps (75 %)",
    ]
    assert all(getattr(r, "progress", False) for r in caplog.records)  # relayed by the harness
    # several optimiser steps per call (DAC on CUDA): the count is in steps, capped at the epoch's
    trainer.lightning_module = SimpleNamespace(
        max_epochs=20, inner_steps=3, steps_per_epoch=lambda: 10
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dcrepro"):
        for step in range(4):
            bar.on_train_batch_end(trainer, None, None, step, step)
    assert [r.getMessage() for r in caplog.records] == [
        f"DAC epoch 3/20: {done}/10 steps ({10 * done} %)" for done in (3, 6, 9, 10)
    ]


def test_dac_epoch_line_by_hand():
    from src.callbacks.dac import HISTORY_FIELDS, epoch_line

    row = dict.fromkeys(HISTORY_FIELDS, None) | {"epoch": 0, "upper": 0.99, "lower": 0.8}
    assert epoch_line(row) == "DAC epoch 0: next u 0.9900 l 0.8000"
    row |= {"epoch": 3, "acc": 0.98391, "nmi": 0.9548, "ari": 0.96454, "loss": 0.12344}
    row |= {"selected_fraction": 0.4123, "upper": 0.9425, "lower": 0.8475}
    assert epoch_line(row) == (
        "DAC epoch 3: ACC 0.9839 NMI 0.9548 ARI 0.9645 · selected 41.2 % · loss 0.1234"
        " · next u 0.9425 l 0.8475"
    )
    row |= {"clusters": 9, "largest_cluster": 0.2034}
    assert epoch_line(row) == (
        "DAC epoch 3: ACC 0.9839 NMI 0.9548 ARI 0.9645 · 9 clusters, largest 20.3 % · selected"
        " 41.2 % · loss 0.1234 · next u 0.9425 l 0.8475"
    )
