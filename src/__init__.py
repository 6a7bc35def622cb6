"""dcrepro: config-driven reproduction of DEC and DAC deep clustering."""

__version__ = "0.1.0"
