"""python -m connectors.hubspot.sandbox --port 8444 --data-dir var/sandbox/hubspot --seed full"""
from __future__ import annotations

import argparse
import sys

from .seed import SEEDS
from .server import HubSpotSandboxServer


def main(argv: list[str] | None = None) -> int:
    """Run a HubSpot sandbox portal in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m connectors.hubspot.sandbox",
                                     description="A HubSpot portal emulator over HTTPS, seeded from the datasets.")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default="var/sandbox/hubspot")
    parser.add_argument("--seed", choices=SEEDS, default="full", help="used only when the data dir is new")
    parser.add_argument("--reset", action="store_true", help="delete the data and seed again")
    parser.add_argument("--origin", help="clock origin, e.g. 2017-10-01T00:00:00Z")
    parser.add_argument("--portal-id", type=int, help="the hub_id of a new portal")
    args = parser.parse_args(argv)
    settings = {key: value for key, value in (("clock_origin", args.origin), ("portal_id", args.portal_id))
                if value is not None}
    try:
        server = HubSpotSandboxServer(args.data_dir, port=args.port, seed=args.seed, settings=settings or None,
                                      reset=args.reset, host=args.host, quiet=False)
    except (FileNotFoundError, OSError) as error:
        print(f"The HubSpot sandbox could not start: {error}", file=sys.stderr)
        return 1
    info = server.info()
    print(f"HubSpot sandbox portal {info['portal_id']} at {server.base_url}", flush=True)
    print(f"  CA certificate: {server.ca_path} (hubspot-api-client: ssl_ca_cert=; requests: verify=)")
    print(f"  OAuth app: {info['client_id']} / secret from settings; consent at {server.base_url}/oauth/authorize")
    print(f"  clock {info['clock']}, olist date shift {info['date_shift_days']} days, records {info['counts']}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
