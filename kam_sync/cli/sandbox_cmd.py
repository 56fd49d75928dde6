"""`kam-sync sandbox serve`: run the local sandbox CRM until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kam_sync.errors import ExitCode


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sandbox` with its `serve` sub-command."""
    sandbox = sub.add_parser(
        "sandbox",
        help="run a local emulator of the Salesforce or HubSpot API (demo, tests, benchmarks)",
        description="A local, stateful emulator of the parts of the Salesforce REST API and "
        "the HubSpot CRM API that kam-sync uses; the real SDKs run against it.",
    )
    actions = sandbox.add_subparsers(
        dest="sandbox_command", metavar="ACTION", required=True, help="what to do"
    )
    serve = actions.add_parser(
        "serve",
        help="serve a seeded sandbox CRM until Ctrl-C; prints one JSON line with the base "
        "URL, credentials and (Salesforce) the CA certificate path",
    )
    serve.add_argument(
        "--crm", choices=("salesforce", "hubspot"), required=True, help="the CRM to emulate"
    )
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--accounts", type=int, default=1000, help="accounts to seed")
    serve.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    serve.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="keep the data in FILE between restarts (start again with the same --accounts "
        "and --seed; a Salesforce file remembers them itself)",
    )
    serve.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep the CA certificate, the keys and the data in DIR across restarts (the "
        "data in DIR/<crm>-data.json unless --data names a file), so a project pointed at "
        "the sandbox keeps working after a restart",
    )
    serve.add_argument(
        "--without-kam-inputs",
        dest="kam_inputs",
        action="store_false",
        help="start an org as a new customer's: without the KAM input fields the default "
        "mapping reads (`kam-sync provision` creates them)",
    )
    serve.add_argument(
        "--faults",
        metavar="SPEC",
        help="fault spec, e.g. 'latency=20ms,429=0.05,retry_after=1;write:lock=0.02'",
    )
    serve.add_argument(
        "--rate-limit-tier",
        type=int,
        choices=(100, 190, 250),
        default=190,
        help="HubSpot requests per ten seconds",
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 0 after saving `--data`, 64 for a bad argument, 2
    for a data file that is not one."""
    from kam_sync.sandbox.faults import FaultSpec, FaultSpecError

    try:
        FaultSpec.parse(args.faults)
    except FaultSpecError as exc:
        print(f"kam-sync: error: --faults: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.accounts < 0:
        print("kam-sync: error: --accounts must be >= 0", file=sys.stderr)
        return ExitCode.USAGE
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(args, stop)
    except ValueError as exc:  # a data file that is not one
        print(f"kam-sync: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the data file cannot be written, ...
        print(f"kam-sync: error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    from kam_sync.sandbox.runner import serve

    return serve(
        args.crm,
        port=args.port,
        accounts=args.accounts,
        seed=args.seed,
        data_file=args.data,
        faults=args.faults,
        rate_limit_tier=args.rate_limit_tier,
        host=args.host,
        print_line=lambda line: print(line, flush=True),
        stop=stop,
        kam_inputs=args.kam_inputs,
        state_dir=args.state_dir,
    )
