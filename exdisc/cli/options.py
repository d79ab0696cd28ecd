"""The parser, the options every command shares, and the exit statuses."""

import argparse
import dataclasses
import re



__all__ = ["EXIT_OK", "EXIT_CHECK_FAILED", "EXIT_USAGE", "UsageError", "CheckFailed", "Parser",
           "add_param_options", "params_from_args", "positive_int", "int_list", "int_list_of",
           "sizes", "add_result_options", "HelpFormatter"]


#: Exit statuses: success, a check failed (simulation mismatch, failed proof,
#: baseline regression, RTL cycles off the model), bad usage or bad input.
EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage: the message is the one line the user sees (exit status 2)."""


class CheckFailed(Exception):
    """A check failed: the message is the one line the user sees (exit status 1)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help of every option that has one worth showing."""

    def _get_help_string(self, action):
        default = action.default
        # an option whose help states its default (in its own words) keeps it
        if (default is None or default is False or default is argparse.SUPPRESS
                or "%(default)" in (action.help or "") or "(default:" in (action.help or "")):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors become :class:`UsageError` (one line,
    status 2) and whose subcommands share the help format."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return value


def int_list(text, choices=None):
    """An argparse type: ``1,2,4`` as a list of integers (each one of
    ``choices``, if given; see :func:`int_list_of`)."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = None
    if values is None or (choices and any(v not in choices for v in values)):
        among = f" from {', '.join(map(str, choices))}" if choices else ""
        raise argparse.ArgumentTypeError(f"expected integers{among} separated by commas, "
                                         f"not {text!r}")
    return values


def int_list_of(choices):
    """An argparse type: a list of integers, each one of ``choices``."""
    return lambda text: int_list(text, choices)


def sizes(text):
    """An argparse type: ``RxC,RxC`` as a list of ``(R, C)``."""
    out = []
    for item in text.split(","):
        try:
            rows, cols = (int(x) for x in item.split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected sizes such as 16x16 separated by "
                                             f"commas, not {text!r}") from None
        out.append((rows, cols))
    return out


def _flag(name, info):
    return "--" + (info.cli or name).replace("_", "-")


def _auto_int(text):
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', not {text!r}") from None


def add_param_options(parser, params_cls):
    """One option per field of ``params_cls`` (a :class:`exdisc.hw.params.Params`),
    with its help, default and choices."""
    group = parser.add_argument_group("parameters")
    for name, default, info in params_cls.fields():
        flag = _flag(name, info)
        kwargs = {"dest": f"p_{name}", "default": default}
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=info.help,
                               **kwargs)
            continue
        if default is None:
            kwargs.update(type=_auto_int, metavar="N|auto",
                          help=f"{info.help} (default: auto = {info.auto})")
        else:
            kwargs.update(type=type(default), help=info.help)
            if info.choices:
                kwargs.update(choices=info.choices,
                              metavar="{" + ",".join(map(str, info.choices)) + "}")
            else:
                kwargs["metavar"] = type(default).__name__.upper()
        group.add_argument(flag, **kwargs)


_PARAMETER = re.compile(r"parameter '(\w+)'")


def params_from_args(unit, args):
    """The unit's parameter object from the parsed options. A rejected value
    is a :class:`UsageError` that names the option as typed (``--dsp-pes``)."""
    flags = {name: _flag(name, info) for name, _, info in unit.params.fields()}
    values = {name: getattr(args, f"p_{name}") for name in flags}
    try:
        return unit.params(**values)
    except (ValueError, TypeError) as e:
        message = _PARAMETER.sub(lambda m: f"option {flags[m.group(1)]}"
                                 if m.group(1) in flags else m.group(0), str(e))
        raise UsageError(f"{args.prog_name}: {message}") from None


def add_result_options(parser, default_out):
    """``--json``, ``--out`` and ``--update`` of the commands that record results."""
    parser.add_argument("--json", action="store_true",
                        help="print the record as one JSON document on stdout (tables, "
                             "progress and paths go to stderr)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help=f"directory for the record and its figures (default: "
                             f"<build>/{default_out})")
    parser.add_argument("--update", action="store_true",
                        help="also store the record as the committed reference result "
                             "(docs/results/ of a source checkout)")


def as_dict(obj):
    """A dataclass as a dict (for JSON)."""
    return dataclasses.asdict(obj)
