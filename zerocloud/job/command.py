"""What a node's program is started with: its arguments and its environment.

- ``args`` given as a string is split like a POSIX shell command line (:func:`shlex.split`:
  whitespace separates, ``'...'`` and ``"..."`` quote, ``\\`` escapes; nothing is expanded,
  ``#`` is an ordinary character): ``"x 'y z'"`` gives ``['x', 'y z']``.  A list is taken as
  it is.  An unterminated quote, a trailing backslash or a quoted tab (arguments hold no
  control characters, whichever form) is a located problem.
- ``env`` names are ``[A-Za-z0-9_]+``; the variables the system provides (SPEC S6) are
  refused, not silently replaced: :func:`is_reserved_env` (the proxy uses the same test).
- argv and environment together are bounded (:mod:`zerocloud.limits`): at most
  ``MAX_JOB_ARGV_ENV_BYTES`` bytes, ``MAX_ARGV_ITEMS`` argv strings and ``MAX_JOB_ENV_ITEMS``
  variables.

Every checker records located problems in the collector and returns the normalised value, or
None after recording what is wrong (the convention of :mod:`zerocloud.job.fields`).
"""
import shlex
from types import MappingProxyType

from zerocloud.job.errors import at_key, show, type_name
from zerocloud.job.fields import MAX_TEXT, check_list, check_text
from zerocloud.limits import (MAX_ARGV_ITEMS, MAX_JOB_ARGV_ENV_BYTES, MAX_JOB_ENV_ITEMS,
                              argv_env_bytes)

MAX_ARGS_TEXT = 4 * MAX_TEXT     # the string form of args (also in schema.json)
#: CGI/1.1 and zerocloud variables set from the request (SPEC S6), never by a job
RESERVED_ENV_NAMES = frozenset((
    'GATEWAY_INTERFACE', 'REQUEST_METHOD', 'REQUEST_URI', 'PATH_INFO', 'QUERY_STRING',
    'SCRIPT_NAME', 'SCRIPT_FILENAME', 'REMOTE_USER', 'REMOTE_ADDR', 'AUTH_TYPE',
    'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SOFTWARE',
    'CONTENT_TYPE', 'CONTENT_LENGTH'))
#: request headers (``HTTP_*``) and the co-located object (``LOCAL_*``)
RESERVED_ENV_PREFIXES = ('HTTP_', 'LOCAL_')
RESERVED_WHY = 'reserved: set by zerocloud from the request (SPEC S6)'


def is_reserved_env(name):
    """True when ``name`` is a variable zerocloud sets from the request (SPEC S6).

    Names are case-sensitive, as in the environment itself: ``PATH_INFO`` is reserved,
    ``path_info`` is the job's own.
    """
    return name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES)


def check_args(problems, where, value):
    """Command-line arguments: a string split like a POSIX shell, or a list of strings."""
    if isinstance(value, str):
        return split_command_line(problems, where, value)
    items = check_list(problems, where, value)
    if items is None:
        return None
    args = tuple(check_text(problems, f'{where}[{i}]', item, empty_ok=True)
                 for i, item in enumerate(items))
    return None if None in args else args


def split_command_line(problems, where, text):
    """``text`` split with POSIX shell rules; None if it cannot be.

    A tab separates like a space; quoted, it would be part of an argument, and arguments
    hold no control characters (the list form's rule).
    """
    if check_text(problems, where, text.replace('\t', ' '), empty_ok=True,
                  limit=MAX_ARGS_TEXT) is None:
        return None
    try:
        args = tuple(shlex.split(text))
    except ValueError as err:       # "No closing quotation", "No escaped character"
        problems.add(where, f'cannot split {show(text)} like a shell command line: '
                     f'{str(err).lower()} (quote with \' or ", escape with \\, '
                     'or give a list of strings)')
        return None
    if any('\t' in arg for arg in args):
        problems.add(where, f'a quoted or escaped tab in {show(text)}: arguments cannot hold '
                     'control characters')
        return None
    return args


def check_env(problems, where, value):
    """An environment: names [A-Za-z0-9_]+ and not reserved, values strings (numbers are
    turned into text)."""
    if not isinstance(value, dict):
        problems.add(where, f'expected an object, got {type_name(value)}')
        return None
    env, ok = {}, True
    for key, item in value.items():
        here = at_key(where, key)
        if not _env_name_ok(problems, here, key):
            ok = False
            continue
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = show(item, limit=MAX_TEXT)
        text = check_text(problems, here, item, empty_ok=True)
        ok = ok and text is not None
        env[key] = text
    return MappingProxyType(env) if ok else None


def _env_name_ok(problems, where, name):
    if not (isinstance(name, str) and name.isascii() and name.replace('_', 'a').isalnum()):
        problems.add(where, 'environment names must be [A-Za-z0-9_]+')
        return False
    if is_reserved_env(name):
        problems.add(where, f'{name} is {RESERVED_WHY}')
        return False
    return True


def check_argv_env_size(problems, where, args_where, argv, env):
    """argv (argv[0] included) and ``env`` within the job's limits; False if not.

    ``where`` locates the exec (the size problem), ``args_where`` its arguments.
    """
    ok = True
    if len(argv) > MAX_ARGV_ITEMS:
        problems.add(args_where, f'argv would hold {len(argv)} strings (argv[0] and '
                     f'{len(argv) - 1} arguments), more than the {MAX_ARGV_ITEMS} allowed')
        ok = False
    if len(env) > MAX_JOB_ENV_ITEMS:
        problems.add(f'{where}.env', f'{len(env)} environment variables, more than the '
                     f'{MAX_JOB_ENV_ITEMS} allowed')
        ok = False
    size = argv_env_bytes(argv, env.items())
    if size > MAX_JOB_ARGV_ENV_BYTES:
        problems.add(where, f'argv and environment take {size} bytes (each string with its '
                     f'NUL, variables as NAME=VALUE), more than the {MAX_JOB_ARGV_ENV_BYTES} '
                     'allowed')
        ok = False
    return ok
