"""dcrepro: config-driven reproduction of DEC and DAC deep clustering.

Importing the package sets ``OMP_WAIT_POLICY=PASSIVE`` unless the caller set a policy: it must
be in the environment before torch loads its OpenMP runtime, and ``python -m src.…`` imports
this file first. With libgomp's default, threads spin at the end of every parallel region; a
run that shares its cores with another job then burns them waiting (measured in
``outputs/checks/omp_wait_policy/``).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
