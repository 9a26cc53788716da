"""The typed top-level settings of the primary configs, checked before a job does any work.

A command-line value reaches the config as whatever YAML makes of it (`seed=abc` is a
string), and the stage that first uses it fails deep inside a library. `check_settings`
names the key, the value and what is expected instead. Group configs (augmenters, LLM
clients, models) check their own values when they are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from hilgen.errors import UserError


@dataclass(frozen=True)
class Setting:
    """A config key that, when present, must hold an integer (at least `minimum`), a boolean
    or one of `choices`; `optional` allows null."""

    key: str
    kind: type = int
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False


SETTINGS = (
    Setting("seed", int, minimum=0),
    Setting("shots", int, minimum=1),
    Setting("dev_set.shots", int, minimum=1),
    Setting("dev_set.mode", str, choices=("kshot", "full")),
    Setting("score_full_dev", bool),
    Setting("limit_test_sentences", int, minimum=1, optional=True),
    Setting("teacher_check", bool),
)


_ABSENT = object()


class SettingError(UserError, ValueError):
    """A top-level config value of the wrong type or out of range."""


def _problem(setting: Setting, value: object) -> str | None:
    if value is None:
        return None if setting.optional else "a value is required"
    expected = {int: "an integer", bool: "true or false", str: "a string"}[setting.kind]
    # bool is a subclass of int; `shots=true` is no count.
    if not isinstance(value, setting.kind) or (setting.kind is int and isinstance(value, bool)):
        return f"expected {expected}"
    if setting.minimum is not None and value < setting.minimum:  # type: ignore[operator]
        return f"expected an integer >= {setting.minimum}"
    if setting.choices and value not in setting.choices:
        return f"expected one of {', '.join(setting.choices)}"
    return None


def check_settings(cfg: DictConfig, settings: tuple[Setting, ...] = SETTINGS) -> None:
    """Raise `SettingError` naming every present setting whose value is wrong."""
    problems = []
    for setting in settings:
        value = OmegaConf.select(cfg, setting.key, default=_ABSENT)
        if value is _ABSENT:
            continue
        if (problem := _problem(setting, value)) is not None:
            problems.append(f"{setting.key}={value!r}: {problem}")
    if problems:
        raise SettingError(
            "invalid setting(s): " + "; ".join(problems) + " (fix the command line or the config)"
        )
