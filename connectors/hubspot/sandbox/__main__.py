"""python -m connectors.hubspot.sandbox --port 8444 --data-dir var/sandbox/hubspot --seed full"""
from __future__ import annotations

import sys

from connectors.sandbox_kit.cli import sandbox_parser, serve_in_foreground
from connectors.sandbox_kit.datasets import SEEDS

from .server import HubSpotSandboxServer


def main(argv: list[str] | None = None) -> int:
    """Run a HubSpot sandbox portal in the foreground."""
    parser = sandbox_parser("hubspot", "A HubSpot portal emulator over HTTPS, seeded from the datasets.", 8444, SEEDS)
    parser.add_argument("--portal-id", type=int, help="the hub_id of a new portal")
    args = parser.parse_args(argv)
    settings = {key: value for key, value in (("clock_origin", args.origin), ("portal_id", args.portal_id))
                if value is not None}
    return serve_in_foreground(lambda: HubSpotSandboxServer(args.data_dir, port=args.port, seed=args.seed,
                                                            settings=settings or None, reset=args.reset,
                                                            host=args.host, quiet=False),
                               "HubSpot", _describe)


def _describe(server: HubSpotSandboxServer) -> None:
    info = server.info()
    print(f"HubSpot sandbox portal {info['portal_id']} at {server.base_url}", flush=True)
    print(f"  CA certificate: {server.ca_path} (hubspot-api-client: ssl_ca_cert=; requests: verify=)")
    print(f"  OAuth app: {info['client_id']} / secret from settings; consent at {server.base_url}/oauth/authorize")
    print(f"  clock {info['clock']}, olist date shift {info['date_shift_days']} days, records {info['counts']}")


if __name__ == "__main__":
    sys.exit(main())
