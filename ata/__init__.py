"""pi-ata: open analog telephone adapter firmware.

Sans-IO protocol and signal cores live in :mod:`ata.sip`, :mod:`ata.media`, :mod:`ata.dsp`
and :mod:`ata.line`; the asyncio drivers that bind them to sockets, timers and the hardware
abstraction layer live in :mod:`ata.runtime`; the ``ata`` command is :mod:`ata.cli`.
"""

__version__ = "0.1.0"
