"""Entry point of the `outbox` console command: every command group, registered in one place.

Each group is named by its module and loaded when it is used: a command imports only what it
runs. Add a group with one line: its name, `module:attribute`, and its one-line help.
"""

from __future__ import annotations

from outbox_cli.app import cli

COMMANDS = (
    ("init", "outbox_cli.init_cmd:init", "Create the MongoDB indexes."),
    ("gateway", "outbox_cli.gateway_cmd:gateway", "Create, change and inspect gateways."),
    ("relay", "outbox_cli.relay_cmd:relay", "The relay daemon: outbox to Redis stream."),
    ("provisioner", "outbox_cli.provisioner_cmd:provisioner", "The provisioner daemon."),
    ("status", "outbox_cli.status_cmd:status", "The whole pipeline at a glance."),
    ("dlq", "outbox_cli.dlq_cmd:dlq", "The dead-letter stream."),
    ("demo", "outbox_cli.demo_cmd:demo", "Run the whole pipeline in one process."),
    ("completion", "outbox_cli.completion:completion", "Print a shell completion script."),
)

for name, target, short_help in COMMANDS:
    cli.add_lazy(name, target, short_help)


def main() -> None:
    cli(prog_name="outbox")


if __name__ == "__main__":
    main()
