"""Lead capture: imports."""
