"""Board definitions as data (TOML) and HAT detection."""
