"""The provisioner daemon: consumes gateway events and drives each gateway to its desired phase."""
