"""Configuration schema, validation, atomic storage, profile provisioning and web admin."""
