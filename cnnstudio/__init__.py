"""CNN Studio: train image classifiers on folders of pictures, locally."""

import os

# Measured here: torch's default OpenMP busy-waiting makes training 3-7x slower as soon as another
# thread (the GUI) wants a core; PASSIVE costs nothing on a quiet machine. It only takes effect when
# set before torch is imported, and every entry point imports this package first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
