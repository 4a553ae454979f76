"""Read models for people and scripts: `outbox status`, the timeline, and waiting.

Each reads through the store port (and the stream port for status); none writes.
"""
