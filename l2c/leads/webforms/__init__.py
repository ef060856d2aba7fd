"""Lead capture: webforms."""
