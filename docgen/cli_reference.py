"""The CLI reference page, written from the click commands themselves.

Every command and group of ``pgsched`` gets a section: its usage line, its help
text (examples included) and a table of its options with their defaults, as
``--help`` would show them. Nothing here is typed twice: a new flag appears in the
docs the next time they are built.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import click

from pgsched.cli import cli

PROGRAM = "pgsched"
INTRO = """# Command line

Every `pgsched` command, generated from the commands themselves when the
documentation is built. `pgsched COMMAND --help` prints the same. Commands that
need a database take `--database-url` (default `$PGSCHED_DATABASE_URL`, else the
embedded server under `--home` / `$PGSCHED_HOME`); see
[Environment variables](environment.md).
"""


def markdown() -> str:
    """The whole page."""
    sections = [INTRO]
    for path, command in commands(cli, [PROGRAM]):
        sections.append(section(path, command))
    return "\n".join(sections)


def commands(group: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    """Every command under ``group`` with its full name, depth first, by name."""
    if not isinstance(group, click.Group):
        return
    for name in sorted(group.commands):
        command = group.commands[name]
        yield [*path, name], command
        yield from commands(command, [*path, name])


def section(path: list[str], command: click.Command) -> str:
    """One command: heading, usage, help text and options."""
    context = click.Context(command, info_name=" ".join(path))
    usage = " ".join(command.collect_usage_pieces(context))
    depth = "#" * min(len(path), 4)
    lines = [f"{depth} `{' '.join(path[1:])}`", "", "```text", f"{' '.join(path)} {usage}", "```"]
    lines += ["", *help_text(command.help or "")]
    rows = [row for row in (option_row(param, context) for param in command.params) if row]
    if rows:
        lines += ["| option | default | meaning |", "|---|---|---|", *rows, ""]
    if isinstance(command, click.Group):
        names = ", ".join(f"`{name}`" for name in sorted(command.commands))
        lines += [f"Subcommands: {names}.", ""]
    return "\n".join(lines)


def help_text(text: str) -> list[str]:
    """A docstring as markdown: ``\\b`` blocks (examples) become code blocks."""
    lines: list[str] = []
    paragraphs = click.unstyle(text).split("\n\n")
    for paragraph in paragraphs:
        paragraph = paragraph.strip("\n")
        if paragraph.lstrip().startswith("\b"):
            body = paragraph.lstrip()[1:].strip("\n").splitlines()
            title = body[0].strip() if body and body[0].strip().endswith(":") else None
            code = body[1:] if title else body
            if title:
                lines += [f"*{title.rstrip(':')}*", ""]
            lines += ["```sh", *dedent(code).rstrip("\n").splitlines(), "```", ""]
        else:
            lines += [" ".join(line.strip() for line in paragraph.splitlines()), ""]
    return lines


def dedent(lines: list[str]) -> str:
    """``lines`` without the indentation they share, as one text."""
    return textwrap.dedent("\n".join(lines))


def option_row(param: click.Parameter, context: click.Context) -> str | None:
    """A table row for an option (arguments are in the usage line); None for others."""
    if not isinstance(param, click.Option) or param.hidden:
        return None
    record = param.get_help_record(context)
    if record is None:
        return None
    names, meaning = record
    # click's own "[default: ...; range]" goes to the default column.
    meaning = "" if meaning.startswith("[") else meaning.split("  [")[0]
    default = shown_default(param)
    return f"| `{escape(names)}` | {default and f'`{escape(default)}`'} | {escape(meaning)} |"


def shown_default(param: click.Option) -> str:
    """The option's default as a user would type it; "" when it has none worth showing."""
    default = param.default
    if param.is_flag:
        return param.opts[0] if default and param.secondary_opts else ""
    if isinstance(default, bool | int | float | str) and default != "":
        return str(default)
    return ""


def escape(text: str) -> str:
    """``text`` safe inside a table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
