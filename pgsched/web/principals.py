"""Who makes a request, and what the database lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pgsched.catalog.tokens import Role

Source = Literal["token", "proxy", "local"]


@dataclass(frozen=True)
class Principal:
    """A token, a user a trusted proxy vouches for, or the local user of a server on
    loopback without authentication. ``role`` decides the database role."""

    name: str
    role: Role
    source: Source

    @property
    def database_role(self) -> str:
        """The role each of this principal's transactions runs as."""
        return f"pgsched_{self.role}"

    @property
    def actor(self) -> str:
        """What the job audit trail records beside the login: ``token:ci-deploy``."""
        return f"{self.source}:{self.name}"

    @property
    def is_admin(self) -> bool:
        """Whether it may change jobs (the database decides in the end)."""
        return self.role == "admin"
