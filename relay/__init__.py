"""The relay daemon: moves committed outbox events into the Redis stream, once, in order."""
