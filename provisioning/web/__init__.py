"""The web admin: aiohttp pages for status, configuration editing and provisioning."""
