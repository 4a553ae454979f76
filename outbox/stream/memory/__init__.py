"""The in-memory adapter of the event stream: the stand-in for Redis (demo and tests)."""
