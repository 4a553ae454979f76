"""The domain: what a gateway is, how it may change, and the events that say so. No I/O.

The model and its state machine (`model`, `transitions`), outbox events and how to read them
(`events`, `event_documents`), deadlines and the wait rule (`deadlines`, `settling`), who acted
(`actors`), partitions, back-off, the clock and the typed errors. Everything else builds on it.
"""
