"""LightningModules: one training phase each."""
