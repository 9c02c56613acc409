"""Board definition files (TOML), shipped as package data; see board.schema for the format."""
