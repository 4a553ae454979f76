"""The `outbox` command line and the demo.

The composition root: the only code that sees the relay and the provisioner together.
"""
