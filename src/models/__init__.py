"""Network architectures (``conf/arch/*.yaml``)."""
