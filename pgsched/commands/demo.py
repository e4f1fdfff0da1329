"""Placeholder: commands of this area are being written."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
