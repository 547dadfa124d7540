"""rbsim's error base class and exit statuses, defined once for every command.

Every error rbsim raises on purpose derives from :class:`RbsimError`, so a caller (or ``main()``)
catches them all with one ``except``. Bad input from the user is :class:`sim.inputs.InputError`
(exit 2); failures of a real run (harness, cgroup, swap, server, profile) exit 1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""A run that could not be done (the harness, a live profile): one line on stderr, no traceback."""
EXIT_BAD_INPUT = 2
"""Bad input: one line naming the file, the field and what is allowed."""
EXIT_OUTCOME = 3
"""``rbsim run --fail-on ...``: a run ended in a listed outcome."""
EXIT_BROKEN_PIPE = 141
"""The reader of our output went away (``rbsim catalog | head``): 128 + SIGPIPE, as cat or yes end."""


class RbsimError(Exception):
    """Base of every error rbsim raises on purpose; ``str()`` is a message for the user."""
