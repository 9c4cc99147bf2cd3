"""The one base class of every mistake a user can make and fix: a config value, their model,
their data or files, a budget the model cannot meet, a disk they cannot write to.

The commands (``python -m evoprune``, ``python -m evoprune.finetune_mask``) catch
:class:`UserError` alone and print its message as one line, ``error: <message>``, with exit
status 2 and no traceback; anything else is a programming error and keeps its traceback. Each
subclass also derives from the built-in exception it has always been (``ValueError``,
``OSError``, ``RuntimeError``), so code that catches those keeps working.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix. The message names the bad value (the dotted config key,
    the file, the layer) and what is allowed, in one line."""


def user_errors() -> list[type[UserError]]:
    """Every user error class defined so far, most general first (for the docs' reference)."""
    found, pending = [], [UserError]
    while pending:
        klass = pending.pop(0)
        found.append(klass)
        pending.extend(sorted(klass.__subclasses__(), key=lambda k: k.__qualname__))
    return found
