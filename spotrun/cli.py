"""The `spotrun` console script: one subcommand per process kind. Heavy imports are deferred."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from agents import AGENTS
from spotrun import __version__
from spotrun.config import SettingsError


def _agent(args: argparse.Namespace) -> int:
    if args.no_auth:
        os.environ["SPOTRUN_AGENT_AUTH"] = "none"
    if args.port:
        os.environ["PORT"] = str(args.port)
    module = importlib.import_module(f"{AGENTS[args.name]}.app")
    module.main()
    return 0


def _bot(args: argparse.Namespace) -> int:
    from bot.runtime.main import run_bot

    run_bot()
    return 0


def _dev(args: argparse.Namespace) -> int:
    from bot.local.dev import run_dev

    return run_dev(console=args.console, output_dir=args.output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotrun", description=__doc__)
    parser.add_argument("--version", action="version", version=f"spotrun {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("bot", help="run the Discord bot (production entry point)")
    p.set_defaults(func=_bot)

    p = sub.add_parser("agent", help="run one agent as an HTTP service on $PORT")
    p.add_argument("name", choices=sorted(AGENTS))
    p.add_argument("--no-auth", action="store_true", help="accept calls without an ID token (local)")
    p.add_argument("--port", type=int, help="listen port (default $PORT or 8080)")
    p.set_defaults(func=_agent)

    p = sub.add_parser("dev", help="run everything locally: four agents + the bot (or a console)")
    p.add_argument("--console", action="store_true", help="read commands from stdin, not Discord")
    p.add_argument("--output", default="spotrun-output", help="folder for result files (console)")
    p.set_defaults(func=_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"spotrun: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
