"""The Redis adapter of the event stream: the only code that imports `redis`.

`stream` is the adapter; `connect` tells a single server from a Redis Cluster; the Lua scripts,
high-water marks, dead letters and the translation of Redis errors each have a module.
"""
