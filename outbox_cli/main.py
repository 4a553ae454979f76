"""Entry point of the `outbox` console command: every command group, registered in one place."""

from __future__ import annotations

from outbox_cli.api_cmd import api
from outbox_cli.app import cli
from outbox_cli.demo_cmd import demo
from outbox_cli.dlq_cmd import dlq
from outbox_cli.gateway_cmd import gateway
from outbox_cli.init_cmd import init
from outbox_cli.provisioner_cmd import provisioner
from outbox_cli.relay_cmd import relay
from outbox_cli.status_cmd import status
from outbox_cli.token_cmd import token

for command in (init, gateway, relay, provisioner, status, dlq, demo):
    cli.add_command(command)
cli.add_command(api)
cli.add_command(token)


def main() -> None:
    cli(prog_name="outbox")


if __name__ == "__main__":
    main()
