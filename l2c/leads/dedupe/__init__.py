"""Lead capture: dedupe."""
