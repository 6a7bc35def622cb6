"""``make bench``: the framework's per-phase speed next to a hand-written PyTorch loop."""
