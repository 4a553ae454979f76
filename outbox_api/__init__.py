"""The HTTP writer API: FastAPI in front of `Writer`, one more caller of it.

It imports only `outbox`: the composition root (`outbox api run`) hands it a store.
"""
