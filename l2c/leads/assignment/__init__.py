"""Lead capture: assignment."""
