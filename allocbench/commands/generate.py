"""`allocbench generate KIND -o FILE [--seed N] [NAME=VALUE ...]`: write a synthetic trace."""

from __future__ import annotations

import argparse

from allocbench._core import TraceError
from allocbench.errors import UsageError
from allocbench.generate import generate, generators

HELP = "write a synthetic trace (churn, size-ramp, survivors, sawtooth, list or string growth)"


def _catalogue() -> str:
    lines = ["generators and their parameters (NAME=VALUE, default in brackets):"]
    for g in generators():
        lines.append(f"  {g['name']}: {g['description']}")
        lines += [f"      {p['name']} [{p['default']}]: {p['help']}" for p in g["params"]]
    lines.append("  sizes also takes `mix`: the empirical CPython size mix, workloads/size-mix.csv")
    return "\n".join(lines)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="trace file to write (required)")
    parser.add_argument("--seed", type=int, help="random seed (default 0); same seed, same bytes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _catalogue()
    parser.add_argument("kind", help="which generator (listed below)")
    _add_options(parser)
    # Everything after KIND, options included: argparse (3.11) would not take NAME=VALUE
    # words that follow an option, so run() reads them in any order.
    parser.add_argument("params", nargs=argparse.REMAINDER, metavar="NAME=VALUE", help="parameters of the generator")


def _read_tail(args: argparse.Namespace) -> tuple[str, int, list[str]]:
    tail = argparse.ArgumentParser(prog="allocbench generate", add_help=False, exit_on_error=False)
    _add_options(tail)
    tail.add_argument("params", nargs="*")
    try:
        rest = tail.parse_intermixed_args(args.params)
    except argparse.ArgumentError as error:
        raise UsageError(str(error)) from None
    output = rest.output or args.output
    if not output:
        raise UsageError("the trace file to write is required: -o FILE")
    seed = rest.seed if rest.seed is not None else args.seed if args.seed is not None else 0
    return output, seed, rest.params


def run(args: argparse.Namespace) -> int:
    output, seed, words = _read_tail(args)
    params = {}
    for item in words:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"parameter {item!r}: expected NAME=VALUE")
        if name == "seed":
            raise UsageError("the seed is given with --seed")
        if name in params:
            raise UsageError(f"parameter {name!r} given twice")
        params[name] = value
    try:
        summary = generate(args.kind, output, seed=seed, **params)
    except TraceError as error:  # the file could not be written
        raise UsageError(str(error)) from None
    print(f"{output}: {args.kind}, seed {seed}: {summary['op_count']:,} ops, id space {summary['id_space']:,}")
    return 0
