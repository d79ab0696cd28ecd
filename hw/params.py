"""Validation helpers shared by every parameter dataclass.

Each helper raises a :class:`TypeError` or :class:`ValueError` whose message
names the parameter and quotes the offending value, and never clamps.
"""

import dataclasses


__all__ = ["check_int", "check_optional_int", "check_bool", "check_choice", "param", "Params",
           "ParamInfo", "resolve_params", "lookup"]


def check_int(name, value, *, min=None, max=None):
    # bool is an int subclass; a width of True is a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"parameter {name!r} must be an integer, not {value!r}")
    if min is not None and value < min:
        raise ValueError(f"parameter {name!r} must be at least {min}, not {value!r}")
    if max is not None and value > max:
        raise ValueError(f"parameter {name!r} must be at most {max}, not {value!r}")
    return value


def check_optional_int(name, value, **bounds):
    """``None`` (the parameter's automatic value) or an integer within ``bounds``."""
    return value if value is None else check_int(name, value, **bounds)


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"parameter {name!r} must be a bool, not {value!r}")
    return value


def check_choice(name, value, choices):
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"parameter {name!r} must be one of {options}, not {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """What the command line needs to know of one parameter field.

    Members
    -------
    help : str
        One line of help.
    cli : str or None
        Option name without dashes; defaults to the field name.
    choices : tuple or None
        The values the option takes, when they are few.
    auto : str or None
        For a field whose default is None: what that default means (shown in
        help; the option then also takes the word ``auto``).
    """
    help: str
    cli: str = None
    choices: tuple = None
    auto: str = None


def param(default, help, **kwargs):
    """A dataclass field with a default and command-line help text."""
    return dataclasses.field(default=default, metadata={"exdisc": ParamInfo(help, **kwargs)})


class Params:
    """Base of the frozen parameter dataclasses.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` and validate every
    field in ``__post_init__``. :meth:`slug` names a parameter point for file
    and directory names; it is stable, so build directories can be reused.
    """

    @staticmethod
    def _slug_value(value):
        # Readable in an identifier: True/False as 1/0, an automatic value
        # (None) as "auto"; a minus sign would read as a separator.
        if isinstance(value, bool):
            return str(int(value))
        if value is None:
            return "auto"
        if isinstance(value, int) and value < 0:
            return f"minus{-value}"
        return str(value)

    def as_dict(self):
        return dataclasses.asdict(self)

    def slug(self):
        return "-".join(f"{field.name}{self._slug_value(getattr(self, field.name))}"
                        for field in dataclasses.fields(self))

    @classmethod
    def fields(cls):
        """(name, default, ParamInfo) of every parameter, in declaration order."""
        return [(f.name, f.default, f.metadata.get("exdisc", ParamInfo(help=f.name)))
                for f in dataclasses.fields(cls)]


def resolve_params(cls, params, kwargs):
    """The parameter object a component was given: ``params`` (an instance of
    ``cls``) or ``cls(**kwargs)``, never both."""
    if params is None:
        return cls(**kwargs)
    if kwargs:
        raise TypeError(f"pass either a {cls.__name__} object or keyword parameters, not both")
    if not isinstance(params, cls):
        raise TypeError(f"parameter 'params' must be a {cls.__name__}, not {params!r}")
    return params


def lookup(table, name, what):
    """``table[name]``, or a ValueError that quotes ``name`` and lists the
    known names of ``what`` (unit, preset, target, ...)."""
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {what} {name!r}; known {what}s: {known}") from None
