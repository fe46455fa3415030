"""The one exception of the job package: every problem of a job, each with its location."""

#: Problems ``str(JobError)`` lists; the rest are counted (a 64 KiB job of empty nodes
#: would otherwise answer a megabyte of "required")
MAX_LISTED = 100


class JobError(ValueError):
    """A job description (or its expansion) is invalid.

    ``problems`` is a list of ``(location, message)`` pairs, in the order they were found;
    a location reads like a path into the JSON document (``[2].devices[0].path``), or is
    empty for the document as a whole.  ``status`` is the HTTP status the proxy should answer
    with: 400 for a bad job, 413 when the description is larger than allowed.
    ``str(err)`` lists the problems, one per line, as ``location: message`` (the first
    :data:`MAX_LISTED`, then how many more).  Locations and messages are always encodable
    text: what UTF-8 cannot carry (a lone surrogate from the job) is backslash-escaped, so a
    message can always be answered and logged.
    """

    def __init__(self, problems, status=400):
        self.problems = [(encodable(where), encodable(what)) for where, what in problems]
        self.status = status
        super().__init__(self.__str__())

    def __str__(self):
        lines = [f'{where}: {what}' if where else what
                 for where, what in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f'... and {len(self.problems) - MAX_LISTED} more problems')
        return '\n'.join(lines)

    def __reduce__(self):
        return (type(self), (self.problems, self.status))


class Problems:
    """Collects located problems while a job is checked; raises them all at once.

    One collector lives for one call of the parser or the planner (never shared), so that
    every mistake in a job is reported in one answer instead of one per attempt.
    """

    def __init__(self):
        self.items = []

    def add(self, where, message):
        """Record that the value at ``where`` is wrong, and why."""
        self.items.append((where, message))

    def __bool__(self):
        return bool(self.items)

    def raise_if_any(self, status=400):
        """Raise a :class:`JobError` carrying every recorded problem, if there is one."""
        if self.items:
            raise JobError(self.items, status)


def encodable(text):
    """``str(text)`` with what UTF-8 cannot encode (lone surrogates) backslash-escaped."""
    return str(text).encode('utf-8', 'backslashreplace').decode('utf-8')


def at_key(where, key):
    """The location of ``key`` in the object at ``where``: ``where.key`` for a printable
    key, else ``where[<repr>]`` (empty, unprintable, lone surrogates, very long keys)."""
    if isinstance(key, str) and key and len(key) <= 128 and key.isprintable():
        return f'{where}.{key}'
    return f'{where}[{show(key)}]'


def show(value, limit=60):
    """A short, safe rendering of a user-supplied value for an error message."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # huge ints, absurd nesting
        text = f'<{type(value).__name__}>'
    if len(text) > limit:
        text = text[:limit - 3] + '...'
    return text


def type_name(value):
    """The JSON name of the type of a decoded JSON value (for 'expected X, got Y')."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, (int, float)):
        return 'number'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, (list, tuple)):
        return 'array'
    if isinstance(value, dict):
        return 'object'
    return type(value).__name__
