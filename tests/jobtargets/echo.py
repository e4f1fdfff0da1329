"""Returns what it was given."""


def echo(text: str) -> str:
    return text
