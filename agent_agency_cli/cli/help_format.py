"""How parameters read in --help: `TASK_ID` (not Typer's `{TASK_ID}`) in the usage line,
no type label on boolean flags (Typer 0.29 prints `<bool>`), `TEXT`/`INTEGER` instead of
`<str>`/`<int>`, and an option's choices as `auto|strict|dry-run`.

Typer builds its TyperArgument/TyperOption itself (there is no per-parameter class hook),
so the top-level group (`cls=PlainHelpGroup` on the app) gives every parameter of every
command below it the subclass here once, when the command tree is built. Only the help
text changes: parsing, validation and error messages stay Typer's and ours.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Typer's bare type names -> the words people know from other CLIs (git, gh, click).
_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN", "Path": "PATH"}


def _type_word(param: TyperArgument | TyperOption, ctx: Any) -> str | None:
    """The label of the value a parameter takes: its metavar, its choices, or its type word."""
    if param.metavar is not None:
        return param.metavar
    try:
        label = param.display_type(ctx)  # "<str>", "<int range>", "<list[str]>", "<a|b>"
    except AttributeError:  # an older Typer: it prints its own (plain) labels
        return None
    inner = label.strip("<>")
    if inner.startswith("list[") and inner.endswith("]"):
        inner = inner[5:-1]  # repeatable: the help text says so
    inner = inner.removesuffix(" range")  # the range itself is printed beside it
    return _TYPE_WORDS.get(inner, inner)


class PlainOption(TyperOption):
    """An option whose help shows no type for a flag and a plain word for a value."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return _type_word(self, ctx)


class PlainArgument(TyperArgument):
    """An argument shown as `TASK_ID` (required) or `[TASK_ID]` (optional) in the usage line."""

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        word = _type_word(self, ctx)
        # The name column already holds the metavar; repeating it as the type is noise.
        return None if word == self.metavar else word

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


def _plain_param(param: Any) -> Any:
    if type(param) is TyperOption:
        param.__class__ = PlainOption
    elif type(param) is TyperArgument:
        param.__class__ = PlainArgument
    return param


class PlainCommand(TyperCommand):
    """A command whose parameters added after it was built (--help, made on first use) are plain too."""

    def get_params(self, ctx: Any) -> list[Any]:
        return [_plain_param(p) for p in super().get_params(ctx)]


class PlainHelpGroup(TyperGroup):
    """The app's top-level group: builds as Typer's, then makes the whole tree's help plain."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        plain_help(self)

    def get_params(self, ctx: Any) -> list[Any]:
        # --help and Typer's --install-completion/--show-completion are added after __init__.
        return [_plain_param(p) for p in super().get_params(ctx)]


def plain_help(command: Any) -> None:
    """Give `command`, every command below it and all their parameters the plain classes."""
    if type(command) is TyperCommand:
        command.__class__ = PlainCommand
    elif type(command) is TyperGroup:
        command.__class__ = PlainHelpGroup
    for param in getattr(command, "params", ()):
        _plain_param(param)
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
