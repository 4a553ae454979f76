"""The in-memory store adapter: mongomock plus the atomic, isolated transactions MongoDB gives."""
