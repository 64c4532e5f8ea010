"""python -m connectors.salesforce.sandbox --port 8443 --data-dir var/sandbox/salesforce --seed full"""
from __future__ import annotations

import sys

from connectors.sandbox_kit.cli import sandbox_parser, serve_in_foreground
from connectors.sandbox_kit.datasets import SEEDS

from .server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    """Run a Salesforce sandbox in the foreground."""
    parser = sandbox_parser("salesforce", "A Salesforce org emulator over HTTPS, seeded from the datasets.",
                            8443, SEEDS)
    parser.add_argument("--canvas-url", help="the Pipewise Canvas app URL embedded on record pages")
    parser.add_argument("--outbound-url", help="where Outbound Messages are POSTed (default: off)")
    parser.add_argument("--outbound-objects", default="Lead,Opportunity,Task,Event",
                        help="comma-separated objects whose changes send Outbound Messages")
    args = parser.parse_args(argv)
    settings = {"clock_origin": args.origin} if args.origin else {}
    if args.canvas_url:
        settings["canvas_url"] = args.canvas_url
    if args.outbound_url:
        settings.update(outbound_url=args.outbound_url, outbound_objects=tuple(args.outbound_objects.split(",")))
    return serve_in_foreground(lambda: SandboxServer(args.data_dir, port=args.port, seed=args.seed, settings=settings,
                                                     reset=args.reset, host=args.host, quiet=False),
                               "Salesforce", _describe)


def _describe(server: SandboxServer) -> None:
    info = server.info()
    print(f"Salesforce sandbox {info['org_id']} at {server.base_url}", flush=True)
    print(f"  CA certificate: {server.ca_path} (pass it as verify=)")
    print(f"  OAuth client: {info['client_id']} / secret from settings; consent at "
          f"{server.base_url}/services/oauth2/authorize")
    print(f"  home page {server.base_url}/ ; canvas_url {info['canvas_url']} ; outbound to {info['outbound_url']}")
    print(f"  clock {info['clock']}, olist date shift {info['date_shift_days']} days, records {info['counts']}")


if __name__ == "__main__":
    sys.exit(main())
