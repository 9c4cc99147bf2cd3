"""The error a refused config raises (its own module: the checks and the builders both raise
it)."""

from evoprune.infra.errors import UserError


class ConfigError(UserError, ValueError):
    """A config value the run refuses: the message names the dotted key, the bad value and
    what is allowed."""
