"""Turn user-caused failures of a Hydra entry point into one clear line and a non-zero exit.

Hydra prints its own multi-line report (with a hint about HYDRA_FULL_ERROR) for composition
errors. We ask Hydra to re-raise instead and print one line for the errors a user causes; real
bugs keep their traceback. A user who sets HYDRA_FULL_ERROR=1 gets Hydra's behaviour unchanged.
Only light imports here: ``--cfg job`` must stay fast.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException

from slimkit.errors import ConfigError, JobLostError, SweepFailedError

EXIT_USER_ERROR = 2
log = logging.getLogger(__name__)


def describe_user_error(error: BaseException) -> str | None:
    """One line for an error the user caused, or None for anything else (a bug)."""
    if isinstance(error, ConfigError | JobLostError | SweepFailedError):
        return str(error)
    if isinstance(error, MissingConfigException):
        return _describe_missing_config(error)
    if isinstance(error, OverrideParseException):
        return f"cannot parse the override: {_first_line(str(error))}"
    if isinstance(error, ConfigCompositionException):
        cause = error.__cause__
        if isinstance(cause, MissingConfigException):
            return _describe_missing_config(cause)
        detail = _first_line(str(cause)) if cause else ""
        return " ".join(filter(None, [_first_line(str(error)), detail]))
    if isinstance(error, OmegaConfBaseException):
        key = getattr(error, "full_key", None)
        return f"{key}: {_first_line(str(error))}" if key else _first_line(str(error))
    return None


def _describe_missing_config(error: MissingConfigException) -> str:
    missing = error.missing_cfg_file or ""
    group, _, option = missing.rpartition("/")
    if group and error.options:
        allowed = ", ".join(sorted(error.options))
        return f"{group}={option} is not a known option; choose one of: {allowed}"
    return _first_line(str(error))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text


def exit_on_user_error(task_function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Decorate a Hydra task function: a user error in a single run is one line and exit 2.

    In a multirun the error is logged in one line and re-raised, so the launcher or sweeper
    records that job as failed and the sweep goes on.
    """

    @functools.wraps(task_function)
    def wrapper(cfg: Any) -> Any:
        try:
            return task_function(cfg)
        except Exception as error:
            message = describe_user_error(error)
            if message is None:
                raise
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                log.error("error: %s", message)
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def run_with_clean_errors(hydra_main: Callable[[], object]) -> None:
    """Call a ``@hydra.main`` function; report user errors (e.g. composition) in one line, exit 2."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        hydra_main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # make Hydra re-raise so we can word the message
    try:
        hydra_main()
    except Exception as error:  # noqa: BLE001 - we re-raise everything we cannot describe
        message = describe_user_error(error) or (error.__cause__ and describe_user_error(error.__cause__))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def run_moved_command(old_module: str, new_command: str, main: Callable[[], int]) -> NoReturn:
    """``python -m <old_module>`` for one more release: one deprecation line on stderr, then the new ``main``."""
    print(f"warning: python -m {old_module} is deprecated (gone next release); use {new_command}", file=sys.stderr)
    sys.exit(main())
