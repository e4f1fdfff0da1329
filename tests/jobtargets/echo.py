"""Returns what it was given, and shows what a job sees of its environment."""

import os


def echo(text: str) -> str:
    return text


def environment() -> str:
    return "\n".join(f"{name}={value}" for name, value in sorted(os.environ.items()))
