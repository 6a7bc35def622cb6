"""Lightning modules, one per training procedure."""
