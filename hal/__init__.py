"""Hardware abstraction layer: Line/AudioPort/Clock contract, SLIC drivers, backends, simulator."""
