"""Who this scheduler process is: one identity for the lease, Run now claims and the heartbeat."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

__all__ = ["Identity"]


@dataclass(frozen=True)
class Identity:
    """This process: its host, its pid, and a random token that tells apart a reused pid."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"
