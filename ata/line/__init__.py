"""Per-port line and call control (sans-IO): dial tone, digit collection, dial plan, calls."""
