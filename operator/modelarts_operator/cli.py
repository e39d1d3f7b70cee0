"""The ``modelarts-operator`` console script: one subcommand per job, each owned by its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    # Subcommand modules are imported lazily inside their functions, so `crd` does not pay for kopf's import.
    from modelarts_emulator import cli as emulator_cli
    from modelarts_operator.tools import cli as tools_cli

    parser = argparse.ArgumentParser(prog="modelarts-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current kubeconfig or in-cluster config")
    run.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only this namespace (repeatable; glob patterns allowed); default: all namespaces",
    )
    run.add_argument("--verbose", action="store_true", help="debug logging")

    emulator = commands.add_parser("emulator", help="run the local ModelArts v2 pools API emulator")
    emulator_cli.configure_parser(emulator)

    crd = commands.add_parser("crd", help="print the generated CustomResourceDefinitions as YAML")
    crd.add_argument(
        "--kind", default="all", help="pool, project or all (default: all, as one multi-document YAML stream)"
    )

    tools_cli.configure_probe(commands.add_parser("probe", help="read-only check of a ModelArts account's answers"))
    tools_cli.configure_audit(commands.add_parser("audit", help="read-only report: cloud pools versus cluster objects"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        from modelarts_emulator import cli as emulator_cli

        return emulator_cli.run(args)
    if args.command == "crd":
        from modelarts_operator.resource import crd

        kinds = crd.KINDS if args.kind == "all" else (crd.kind_named(args.kind),)
        sys.stdout.write("---\n".join(crd.render_yaml(kind) for kind in kinds))
        return 0
    if args.command in ("probe", "audit"):
        from modelarts_operator.tools import cli as tools_cli

        return tools_cli.run_probe(args) if args.command == "probe" else tools_cli.run_audit(args)
    from modelarts_operator.controller.runner import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
