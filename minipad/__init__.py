"""minipad: scratchpads for intermediate computation (Nye et al., 2021), in pure NumPy."""
__version__ = "0.1.0"
