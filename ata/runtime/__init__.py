"""asyncio drivers binding the sans-IO cores to sockets, timers and the HAL."""
