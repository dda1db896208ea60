"""Errors a user can cause with a config or a command line."""


class ConfigError(Exception):
    """A bad override, an impossible combination or a missing input: reported as one line, exit 2."""
