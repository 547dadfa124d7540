"""``rbsim profile``: turn a live Redis/Valkey server or an ElastiCache cluster into a scenario file,
so backups are simulated for the data and load a node really has."""

from __future__ import annotations

from ..errors import RbsimError


class ProfileError(RbsimError):
    """A profile that cannot be taken; ``str()`` is one line for the user, with no credentials in it."""
