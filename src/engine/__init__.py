"""The training engine: speed switches, device and placement, batches, steps, the Lightning
chunk loop, the Trainer, batched inference, the divergence guard, interrupts, the run's ETA.
It knows nothing of the methods, their modules, pretraining or the harness."""
