"""Validation of executables before they run: the verdict API of the sandbox.

What validation does
    :func:`validate_bytes` checks the ELF structure (:mod:`.elf_check`: a static x86-64
    executable the kernel will map sanely: no interpreter or shared libraries, no W+X or
    overlapping segments, no executable stack, an entry point in code) and scans the
    executable bytes (:mod:`.insn_scan`: no ``int 0x80``, ``sysenter``, far jumps, segment
    loads, port I/O, privileged instructions).  It returns a :class:`Verdict` whose reasons are
    precise ("`int 0x80` at 0x401516 in main (software interrupt)") and whose warnings name
    what makes a run non-reproducible (``cpuid``, ``rdtsc``...).  Hostile or corrupt files get
    a rejection with a reason, never an exception, a hang or a large allocation.

What it does NOT prove
    Nothing about run-time behaviour.  Without NaCl-style code generation (bundle alignment,
    masked indirect jumps) a program can jump into the middle of an instruction, decode
    bytes the linear sweep read differently, build code in data, or make any system call
    with the ``syscall`` instruction.  Validation is a hygiene and policy layer: it turns a
    misbuilt or probing program into an early, readable error.  Containment comes from the
    kernel layers that run every program, validated or not: namespaces, the seccomp
    allow-list (which also kills 32-bit entry paths such as ``int 0x80``), no new
    executable memory after exec, rlimits.  A valid verdict is never a reason to relax them.

Verdict states (``X-Nexe-Validation``, SPEC S4; the ``report.VALIDATION_*`` codes)
    0 valid, 1 rejected, 2 not checked.  "Not checked" covers trusted system-image programs
    (:func:`not_checked`) and results served from the supervisor's verdict cache
    (:class:`zerocloud.sandbox.offload.OffloadedVerdicts`): a previously valid executable
    comes back with state 2 (this run did not check it), a previously rejected one as
    rejected again (state 1, same reasons: a rejection is never softened by caching).
"""
import dataclasses
import hashlib

from zerocloud import limits, report
from zerocloud.sandbox import elf_check, insn_scan

DEFAULT_MAX_SIZE_BYTES = limits.DEFAULT_MAX_EXECUTABLE_BYTES
_STATES = (report.VALIDATION_VALID, report.VALIDATION_REJECTED, report.VALIDATION_NOT_CHECKED)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The validation outcome of one executable, identified by the SHA-256 of its bytes."""
    state: int
    reasons: tuple = ()
    warnings: tuple = ()
    sha256: str = ''

    def __post_init__(self):
        if self.state not in _STATES:
            raise ValueError('verdict state must be one of %r, not %r' % (_STATES, self.state))

    @property
    def valid(self):
        """True unless the executable was rejected (valid or not checked)."""
        return self.state != report.VALIDATION_REJECTED

    def to_dict(self):
        """Return a JSON-serialisable dict."""
        return {'state': self.state, 'reasons': list(self.reasons),
                'warnings': list(self.warnings), 'sha256': self.sha256}

    @classmethod
    def from_dict(cls, data):
        """Build a verdict from :meth:`to_dict` output.

        :raises ValueError: naming the field when ``data`` is not a verdict.
        """
        if not isinstance(data, dict):
            raise ValueError('verdict must be a JSON object, not %s' % type(data).__name__)
        state = data.get('state')
        if isinstance(state, bool) or not isinstance(state, int):
            raise ValueError('verdict field "state" must be an integer, not %r' % (state,))
        fields = {}
        for name in ('reasons', 'warnings'):
            value = data.get(name, ())
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(item, str) for item in value):
                raise ValueError('verdict field "%s" must be a list of strings' % name)
            fields[name] = tuple(value)
        sha256 = data.get('sha256', '')
        if not isinstance(sha256, str):
            raise ValueError('verdict field "sha256" must be a string')
        return cls(state=state, sha256=sha256, **fields)


def not_checked(sha256: str = '') -> Verdict:
    """Return the verdict for a trusted program that is run without validation."""
    return Verdict(state=report.VALIDATION_NOT_CHECKED, sha256=sha256)


def validate_bytes(data: bytes, max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES) -> Verdict:
    """Validate the executable ``data``; never raises for any content of ``data``."""
    sha256 = hashlib.sha256(data).hexdigest()
    facts = elf_check.check_elf(data, max_size_bytes)
    if facts.reasons:
        return Verdict(report.VALIDATION_REJECTED, facts.reasons, facts.warnings, sha256)
    try:
        result = insn_scan.scan(facts.code)
    except Exception as exc:  # capstone failing must reject the file, not crash the caller
        return Verdict(report.VALIDATION_REJECTED,
                       ('instruction scan failed (%s: %s)' % (type(exc).__name__, exc),),
                       facts.warnings, sha256)
    reasons = tuple(_describe(hit, facts.symbols) for hit in result.rejections)
    reasons += result.limits
    warnings = facts.warnings + tuple(
        _describe(first, facts.symbols, count)
        for _mnemonic, (count, first) in sorted(result.warnings.items()))
    if result.undecodable and not result.limits:
        warnings += ('%d undecodable bytes in executable code (data in code, or instructions '
                     'capstone does not know): the scan may be incomplete' % result.undecodable,)
    state = report.VALIDATION_REJECTED if reasons else report.VALIDATION_VALID
    return Verdict(state, reasons, warnings, sha256)


def validate_path(path: str, max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES) -> Verdict:
    """Validate the executable at ``path``, reading at most ``max_size_bytes + 1`` bytes.

    :raises OSError: when the file cannot be read (the caller reports it).
    """
    with open(path, 'rb') as f:
        return validate_file(f, max_size_bytes)


def validate_file(f, max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES) -> Verdict:
    """Validate the executable read from the binary file object ``f`` (at most
    ``max_size_bytes + 1`` bytes are read; a larger file is rejected).

    :raises OSError: when the file cannot be read (the caller reports it).
    """
    data = f.read(max_size_bytes + 1)
    if len(data) > max_size_bytes:
        return Verdict(report.VALIDATION_REJECTED,
                       ('executable is larger than the limit of %d bytes' % max_size_bytes,),
                       sha256='')
    return validate_bytes(data, max_size_bytes)


def _describe(hit, symbols, count=1):
    """Return "`int 0x80` at 0x401516 in main (software interrupt)" for a scan hit."""
    symbol = elf_check.symbol_for(symbols, hit.address)
    where = ' in %s' % symbol if symbol else ''
    more = ' and %d more sites' % (count - 1) if count > 1 else ''
    return '`%s` at 0x%x%s%s (%s)' % (hit.text, hit.address, where, more, hit.why)
