"""Silicon Labs ProSLIC Si3210/Si3211/Si3215/Si3216 driver (TDM400-style FXS modules)."""

from hal.proslic.chip import ChipInfo, PcmFormat, ProSlicChip, ProSlicConfig
from hal.proslic.line import ProSlicLine

__all__ = ["ChipInfo", "PcmFormat", "ProSlicChip", "ProSlicConfig", "ProSlicLine"]
