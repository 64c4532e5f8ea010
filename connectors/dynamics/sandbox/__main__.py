"""python -m connectors.dynamics.sandbox --port 8445 --data-dir var/sandbox/dynamics --seed full"""
from __future__ import annotations

import sys

from connectors.sandbox_kit.cli import sandbox_parser, serve_in_foreground
from connectors.sandbox_kit.datasets import SEEDS

from .server import DynamicsSandboxServer


def main(argv: list[str] | None = None) -> int:
    """Run a Dataverse sandbox environment in the foreground."""
    parser = sandbox_parser("dynamics", "A Dataverse (Dynamics 365) environment emulator over HTTPS, seeded from "
                                        "the datasets.", 8445, SEEDS)
    parser.add_argument("--web-resource-url", help="the Pipewise panel URL shown in record forms")
    args = parser.parse_args(argv)
    settings = {key: value for key, value in (("clock_origin", args.origin),
                                              ("web_resource_url", args.web_resource_url)) if value is not None}
    return serve_in_foreground(lambda: DynamicsSandboxServer(args.data_dir, port=args.port, seed=args.seed,
                                                             settings=settings or None, reset=args.reset,
                                                             host=args.host, quiet=False),
                               "Dynamics 365", _describe)


def _describe(server: DynamicsSandboxServer) -> None:
    info = server.info()
    print(f"Dynamics 365 sandbox {info['org_name']} at {server.base_url}", flush=True)
    print(f"  Web API: {server.web_api}; CA certificate: {server.ca_path} (requests: verify=)")
    print(f"  Entra ID authority: {server.authority}; app {info['client_id']}; scope {server.scope}")
    print(f"  clock {info['clock']}, olist date shift {info['date_shift_days']} days, rows {info['counts']}")


if __name__ == "__main__":
    sys.exit(main())
