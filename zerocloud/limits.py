"""Limits shared by the job language and the sandbox (the bottom floor: imports nothing).

A program's command line and environment are bounded, counted the way ``execve`` copies them
onto the program's stack: every argv string and every ``NAME=VALUE`` environment string as
UTF-8 with its terminating NUL byte (:func:`argv_env_bytes`).

- **A job node** (:func:`zerocloud.job.parse_job`) may give its program at most
  :data:`MAX_JOB_ARGV_ENV_BYTES` (64 KiB) of argv (argv[0], i.e. ``exec.name`` or the
  instance name, then ``exec.args``) and ``exec.env``, at most :data:`MAX_ARGV_ITEMS` (1024)
  argv strings and :data:`MAX_JOB_ENV_ITEMS` (1024) variables; more is a 400 naming the size
  and the limit.
- **A sandbox session** (:class:`zerocloud.sandbox.spec.SessionSpec`) carries the job's share
  plus the variables the servers add (SPEC S6: CGI, ``HTTP_*``, ``LOCAL_*``): at most
  :data:`MAX_SESSION_ARGV_ENV_BYTES` (128 KiB), :data:`MAX_ARGV_ITEMS` argv strings and
  :data:`MAX_SESSION_ENV_ITEMS` (2048) variables.  The supervisor and ``zerocloud run``
  refuse a larger session before anything starts.  So a job the proxy accepted never fails
  for its size in the sandbox, as long as the servers add no more than the job may give.

- **The request's share** (the proxy's CGI and ``HTTP_*`` variables, SPEC S6) is at most
  :data:`MAX_REQUEST_ENV_BYTES` (48 KiB) and :data:`MAX_REQUEST_ENV_ITEMS` (512) variables:
  headers that do not fit are left out.  With the job's share that leaves 16 KiB and 512
  variables for the object server's ``LOCAL_*`` (Swift bounds object metadata at 4 KiB by
  default).

The kernel would take more (ARG_MAX is a quarter of the stack limit, 2 MiB by default, and
128 KiB per string); these bounds keep job descriptions, the proxy-to-object wire message
and the jail's plan small, and leave the program its stack.
"""

KIB = 1024
MIB = 1024 * KIB
#: The largest executable by default (SPEC S8 ``zerovm_maxnexe``; ``zerocloud validate``).
DEFAULT_MAX_EXECUTABLE_BYTES = 256 * MIB
MAX_JOB_ARGV_ENV_BYTES = 64 * KIB
MAX_SESSION_ARGV_ENV_BYTES = 2 * MAX_JOB_ARGV_ENV_BYTES
MAX_ARGV_ITEMS = 1024
MAX_JOB_ENV_ITEMS = 1024
MAX_SESSION_ENV_ITEMS = 2 * MAX_JOB_ENV_ITEMS
MAX_REQUEST_ENV_BYTES = 48 * KIB
MAX_REQUEST_ENV_ITEMS = 512


def argv_env_bytes(argv, env):
    """Bytes ``argv`` (strings) and ``env`` (``(name, value)`` pairs) take for ``execve``.

    Each string counts as its UTF-8 encoding plus a NUL; an environment entry as
    ``NAME=VALUE`` plus a NUL.  Lone surrogates count as three bytes (never less than the
    program gets).
    """
    return (sum(_encoded_size(arg) + 1 for arg in argv) +
            sum(_encoded_size(name) + _encoded_size(value) + 2 for name, value in env))


def _encoded_size(text):
    return len(text.encode('utf-8', 'surrogatepass'))
