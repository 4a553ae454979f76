"""What every process runs with: settings, outages, logs, health, metrics and tracing."""
