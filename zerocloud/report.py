"""The report of one sandbox session: what happened, the exit code, validation and accounting.

A :class:`Report` is plain data that travels as JSON (``to_dict``/``from_dict``): from the
sandbox supervisor to its client, from the object server to the proxy, and to the user of
``zerocloud run``.  Its fields map onto the ``X-Nexe-*`` response headers (SPEC S5).

``status`` is one of the ``STATUS_*`` codes below; ``reason`` is the human sentence that goes
into ``X-Nexe-Status`` when the status is not ``ok``.  ``ok`` means the program ran to its end:
a non-zero exit code is reported in ``retcode``, not as a failure.
"""
import dataclasses
from typing import Optional

STATUS_OK = 'ok'                      # program ran and exited by itself (any exit code)
STATUS_TIMEOUT = 'timeout'            # wall-clock limit reached, session killed
STATUS_CPU_LIMIT = 'cpu-limit'        # CPU time limit reached
STATUS_MEMORY_LIMIT = 'memory-limit'  # address-space limit reached (allocation failed / killed)
STATUS_OUTPUT_LIMIT = 'output-limit'  # a writable channel crossed its byte limit
STATUS_INPUT_LIMIT = 'input-limit'    # a readable channel crossed its byte limit
STATUS_SECCOMP = 'seccomp'            # killed for a forbidden system call (``syscall`` names it)
STATUS_SIGNAL = 'signal'              # killed by another signal (``signal`` names it)
STATUS_VALIDATION = 'validation'      # executable rejected, did not run
STATUS_ISOLATION = 'isolation'        # the jail could not be established, did not run
STATUS_ERROR = 'error'                # anything else that kept the session from running

STATUSES = (STATUS_OK, STATUS_TIMEOUT, STATUS_CPU_LIMIT, STATUS_MEMORY_LIMIT,
            STATUS_OUTPUT_LIMIT, STATUS_INPUT_LIMIT, STATUS_SECCOMP, STATUS_SIGNAL,
            STATUS_VALIDATION, STATUS_ISOLATION, STATUS_ERROR)

VALIDATION_VALID = 0
VALIDATION_REJECTED = 1
VALIDATION_NOT_CHECKED = 2

# ZeroCloud's CDR order after the node's time (SPEC S5).
CDR_FIELDS = ('sys', 'user', 'reads', 'rbytes', 'writes', 'wbytes',
              'nreads', 'nrbytes', 'nwrites', 'nwbytes')


@dataclasses.dataclass(frozen=True)
class Accounting:
    """Resources one session used (the CDR).

    ``sys``/``user`` are CPU seconds; ``reads``/``rbytes`` and ``writes``/``wbytes`` count
    read and write calls and bytes on local channels (files and pipes); the ``n*`` fields
    count the same on network channels (``/dev/in/*``, ``/dev/out/*`` sockets).
    """
    sys: float = 0.0
    user: float = 0.0
    reads: int = 0
    rbytes: int = 0
    writes: int = 0
    wbytes: int = 0
    nreads: int = 0
    nrbytes: int = 0
    nwrites: int = 0
    nwbytes: int = 0

    def cdr_line(self, wall_seconds):
        """Return ZeroCloud's per-node CDR text: node time, then the ten counters."""
        values = ['%.3f' % wall_seconds]
        for name in CDR_FIELDS:
            value = getattr(self, name)
            values.append('%.2f' % value if isinstance(value, float) else str(value))
        return ' '.join(values)


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of one session; see the module docstring for the meaning of ``status``."""
    status: str
    reason: str = ''
    retcode: Optional[int] = None
    signal: Optional[str] = None
    syscall: Optional[str] = None
    validation: int = VALIDATION_NOT_CHECKED
    validation_reasons: tuple = ()
    wall_seconds: float = 0.0
    cdr: Accounting = Accounting()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError('unknown report status %r' % (self.status,))

    @property
    def ok(self):
        """True when the program ran to its end (whatever its exit code)."""
        return self.status == STATUS_OK

    @property
    def status_text(self):
        """The ``X-Nexe-Status`` value: ``ok`` or the reason."""
        return STATUS_OK if self.ok else (self.reason or self.status)

    def to_dict(self):
        """Return a JSON-serialisable dict (built field by field: ``dataclasses.asdict``
        deep-copies recursively, ~0.1 ms of every session's reply)."""
        data = dict(vars(self))
        data['cdr'] = dict(vars(self.cdr))
        data['validation_reasons'] = list(self.validation_reasons)
        return data

    @classmethod
    def from_dict(cls, data):
        """Build a report from :meth:`to_dict` output; unknown keys are ignored."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values['cdr'] = Accounting(**data.get('cdr', {}))
        values['validation_reasons'] = tuple(data.get('validation_reasons', ()))
        return cls(**values)
