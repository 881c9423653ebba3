"""The composition root: configuration → wiring per mode → run."""
