"""`kam-sync completion SHELL`: prints a shell completion script, generated from the parser.

shtab writes the script from the argparse parser itself, so every subcommand and option (and
the choices of ``--crm``, ``--format``, ...) completes without kam-sync being run on each Tab.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script (e.g. `kam-sync completion bash > "
        "/etc/bash_completion.d/kam-sync`)",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(args.root_parser, shell=args.shell))
    return 0
