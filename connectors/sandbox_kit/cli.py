"""Running a sandbox server in the foreground from the command line: shared options, start, serve, stop."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def sandbox_parser(crm: str, description: str, port: int, seeds: tuple | list) -> argparse.ArgumentParser:
    """The options every sandbox takes: port, host, data dir, seed, reset and clock origin."""
    parser = argparse.ArgumentParser(prog=f"python -m connectors.{crm}.sandbox", description=description)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", default=f"var/sandbox/{crm}")
    parser.add_argument("--seed", choices=seeds, default="full", help="used only when the data dir is new")
    parser.add_argument("--reset", action="store_true", help="delete the data and seed again")
    parser.add_argument("--origin", help="clock origin, e.g. 2017-10-01T00:00:00Z")
    return parser


def serve_in_foreground(start: Callable[[], Any], crm: str, describe: Callable[[Any], None]) -> int:
    """Build the server with start(), print describe(server), serve until Ctrl-C; the exit status."""
    try:
        server = start()
    except (FileNotFoundError, OSError) as error:
        print(f"The {crm} sandbox could not start: {error}", file=sys.stderr)
        return 1
    describe(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
