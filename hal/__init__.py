"""Hardware abstraction layer: the Line/AudioPort/Clock contract, SLIC drivers, backends, simulator."""
