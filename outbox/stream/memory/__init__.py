"""The in-memory adapter of the event stream: the stand-in for Redis (demo and tests).

`stream` is the adapter (`MemoryStream`); `shared` what its views share, under one lock; `log`
the data (logs, groups, pending entries); `groups` the consumer-group side, `dead_letters` the
operators' side, `status` the figures of `outbox status`.
"""
