"""Drop-in subclasses of the official model SDK clients (imported on first use)."""
