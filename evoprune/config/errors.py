"""The error a refused config raises (its own module: the checks and the builders both raise
it)."""


class ConfigError(ValueError):
    """A config value the run refuses: the message names the dotted key, the bad value and
    what is allowed."""
