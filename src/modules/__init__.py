"""Lightning modules, one per training procedure, and DEC's objective as pure functions."""
