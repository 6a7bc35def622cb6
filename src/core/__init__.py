"""Core helpers every layer may use, importing nothing else of ``src``: one-line errors, config
groups and checks, atomic writes, seeding, the seed grammar, the checkout's location."""
