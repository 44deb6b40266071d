"""What every `evopose` subcommand's parser shares: the exit code of a user error, a subcommand
with its description and examples, the CONFIG / --set arguments, and `given`, which puts the
flag a wrong value came from in front of a library's message. `evopose.cli` and the commands
that register themselves (`demo`, `import-weights`, `search`) import it; it imports no other
evopose module but `evopose.errors`, so the command modules form no import cycle with the CLI."""

import argparse
import contextlib
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

from evopose.errors import EvoposeError

USER_ERROR_EXIT = 2
"""The exit code of a user error (bad argument, config, file): `evopose: error: ...`."""


def add_command(
    commands: argparse._SubParsersAction, name: str, help_text: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand `name`: `help_text` is its one-line help and (capitalised) its description;
    `epilog` (e.g. `examples(...)`) is printed as written."""
    return commands.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional CONFIG (a YAML file) and the repeatable `--set KEY=VALUE` overrides."""
    parser.add_argument("config", type=Path, help="YAML config (see apps/evopose/configs/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.batch_size=64 (repeatable)",
    )


def examples(*lines: str) -> str:
    """A help epilog listing example command lines."""
    return "examples:\n" + "\n".join(textwrap.indent(line, "  ") for line in lines)


@contextlib.contextmanager
def given(flag: str, *, quoting: Iterable[object] | None = None) -> Iterator[None]:
    """Within the block, an `EvoposeError` gets the command-line `flag` in front of its one-line
    message, keeping its class: library code says which value was wrong ("weights file 'x': no
    such file"), the command line adds where the user gave it ("--weights: weights file 'x':
    no such file"). With `quoting` (the flag's arguments; None entries are flags not given)
    only a message that quotes one of them (`'value'`) is prefixed. A message that already
    starts with a flag is left as it is."""
    quoted = None if quoting is None else [f"'{v}'" for v in quoting if v is not None]
    try:
        yield
    except EvoposeError as error:
        message = str(error)
        if message.startswith("--") or (
            quoted is not None and not any(q in message for q in quoted)
        ):
            raise
        error.args = (f"{flag}: {message}", *error.args[1:])
        raise
