"""Instruction scan of executable code (the capstone adapter).

:func:`scan` disassembles the executable bytes that :mod:`.elf_check` found, by linear sweep
with capstone's ``disasm_lite`` (no operand details: ~10x faster than ``disasm``), and
reports instructions a sandboxed program has no business executing.  It is the only module
that imports capstone.

Rejected (:data:`REJECTED`, plus operand-dependent cases):

- ``int imm8`` other than ``int 3`` (``int 0x80`` is the 32-bit system call entry), ``int1``;
- ``sysenter``, ``sysexit``, ``sysret``: other system call or kernel-return paths;
- far control transfers: ``ljmp``/``lcall`` (``FF /3`` and ``FF /5``, checked on the raw
  bytes because capstone prints some of them as plain ``jmp``/``call``), ``retf``, ``iret*``:
  a far return to selector 0x23 switches the process to 32-bit code;
- segment register loads: ``mov`` to ``ds``/``es``/``ss``/``fs``/``gs``, ``pop fs``/``pop gs``,
  ``lfs``/``lgs``/``lss``;
- port I/O: ``in``, ``out``, ``ins*``, ``outs*``;
- privileged or virtualisation instructions: descriptor tables, control and debug registers,
  MSRs, cache and TLB control, ``swapgs``, ``cli``/``sti``, ``rdpmc``, ``xsetbv``, VMX/SVM,
  SGX ``encls``, ``monitor``/``mwait``...  They fault in user mode anyway; a program that
  contains them is broken or probing.
- system-table *reads* ``sgdt``/``sidt``/``sldt``/``str``/``smsw`` (legal in user mode
  without UMIP, emulated by the kernel with UMIP): decided rejected, they only serve to find
  kernel addresses or detect the host.

Allowed: ``syscall`` (the seccomp filter decides), ``hlt`` and ``ud2`` (glibc and musl use
them to abort), ``int3``.  Reported as warnings (:data:`WARNED`), not rejected: instructions
whose results differ between machines or runs (``cpuid``, ``rdtsc``, ``rdrand``, ``xbegin``...),
which glibc itself uses.

Linear sweep decodes whatever bytes it is given: data placed in code gives false hits (one
byte ``0xec`` is ``in al, dx``), which is why :mod:`.elf_check` leaves data sections out.
Capstone stops at a byte it cannot decode: the scan counts it, skips one byte and goes on.
The work is bounded: code is decoded in windows of :data:`WINDOW_BYTES` (capstone
materialises every instruction of a call); at most ``max_code_bytes`` and
``max_instructions`` are scanned, at most ``max_undecodable`` bytes skipped and
``max_rejections`` hits collected before the scan stops and says so (each limit is a reason
to reject: the scan fails closed).  The cost is about 1 us per instruction on a loaded
2-vCPU VM (capstone's Python binding dominates), so the defaults bound one scan to roughly
8 s; a glibc-static hello (117k instructions) takes 0.1-0.3 s.
"""
import dataclasses

import capstone

WINDOW_BYTES = 64 * 1024
MAX_INSTRUCTION_BYTES = 15
MAX_CODE_BYTES = 32 * 2**20
MAX_INSTRUCTIONS = 8 * 2**20
MAX_UNDECODABLE_BYTES = 4096
MAX_REJECTIONS = 20

_PORT_IO = 'port I/O'
_PRIVILEGED = 'privileged instruction'
_SEGMENT = 'segment register load'
_FAR = 'far control transfer'
_SYSCALL = 'legacy system call or kernel-return instruction'
_TABLE_READ = 'system table read (reveals kernel addresses)'

REJECTED = {
    'int1': 'debug trap',
    'sysenter': _SYSCALL, 'sysexit': _SYSCALL, 'sysexitq': _SYSCALL,
    'sysret': _SYSCALL, 'sysretq': _SYSCALL,
    'ljmp': _FAR, 'lcall': _FAR, 'retf': _FAR, 'retfq': _FAR,
    'iret': _FAR, 'iretd': _FAR, 'iretq': _FAR,
    'lfs': _SEGMENT, 'lgs': _SEGMENT, 'lss': _SEGMENT, 'lds': _SEGMENT, 'les': _SEGMENT,
    'sgdt': _TABLE_READ, 'sidt': _TABLE_READ, 'sldt': _TABLE_READ, 'str': _TABLE_READ,
    'smsw': _TABLE_READ,
}
REJECTED.update(dict.fromkeys((
    'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd'), _PORT_IO))
REJECTED.update(dict.fromkeys((
    'lgdt', 'lidt', 'lldt', 'ltr', 'lmsw', 'clts', 'invd', 'wbinvd', 'wbnoinvd', 'invlpg',
    'invlpga', 'invlpgb', 'tlbsync', 'invpcid', 'swapgs', 'cli', 'sti', 'rdmsr', 'wrmsr',
    'rdpmc', 'xsetbv', 'xsaves', 'xsaves64', 'xrstors', 'xrstors64', 'monitor', 'mwait',
    'clac', 'stac', 'rsm', 'getsec', 'encls', 'pconfig', 'wrussd', 'wrussq', 'hreset',
    'vmcall', 'vmlaunch', 'vmresume', 'vmxoff', 'vmxon', 'vmptrld', 'vmptrst', 'vmread',
    'vmwrite', 'vmclear', 'vmfunc', 'invept', 'invvpid', 'vmrun', 'vmload', 'vmsave',
    'vmmcall', 'stgi', 'clgi', 'skinit'), _PRIVILEGED))

_NONDETERMINISTIC = 'result differs between machines or runs'
WARNED = dict.fromkeys(('cpuid', 'rdtsc', 'rdtscp', 'rdrand', 'rdseed', 'rdpid', 'rdpru',
                        'xbegin'), _NONDETERMINISTIC)

_SEGMENT_REGISTERS = ('cs', 'ds', 'es', 'fs', 'gs', 'ss')
_CONTROL_OR_DEBUG = tuple('cr%d' % n for n in range(16)) + tuple('dr%d' % n for n in range(16))
_LEGACY_PREFIXES = frozenset((0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3))
_OPERAND_CHECKED = frozenset(('int', 'mov', 'pop', 'jmp', 'call'))
_INTERESTING = frozenset(REJECTED) | frozenset(WARNED) | _OPERAND_CHECKED


@dataclasses.dataclass(frozen=True)
class Hit:
    """One instruction the scan reports: ``text`` is e.g. ``int 0x80``."""
    address: int
    text: str
    why: str


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`scan`.

    ``rejections`` are :class:`Hit` values (in address order); ``warnings`` maps a mnemonic
    to ``(count, first Hit)``; ``limits`` lists the bounds that stopped the scan (each one is
    a reason to reject); ``undecodable`` counts bytes capstone could not decode;
    ``instructions`` counts decoded instructions.
    """
    rejections: tuple
    warnings: dict
    limits: tuple
    undecodable: int
    instructions: int


class _Scan:
    """Mutable state of one scan (kept out of the module)."""

    def __init__(self, max_rejections, max_undecodable, max_instructions):
        self.rejections = []
        self.warnings = {}
        self.limits = []
        self.undecodable = 0
        self.instructions = 0
        self.max_rejections = max_rejections
        self.max_undecodable = max_undecodable
        self.max_instructions = max_instructions

    @property
    def stopped(self):
        return bool(self.limits)

    def reject(self, hit):
        self.rejections.append(hit)
        if len(self.rejections) >= self.max_rejections:
            self.limits.append('scan stopped after %d forbidden instructions'
                               % self.max_rejections)

    def warn(self, mnemonic, hit):
        count, first = self.warnings.get(mnemonic, (0, hit))
        self.warnings[mnemonic] = (count + 1, first)

    def count(self, instructions):
        self.instructions += instructions
        if self.instructions > self.max_instructions:
            self.limits.append('more than %d instructions of executable code: too large to scan'
                               % self.max_instructions)

    def skip_undecodable(self):
        self.undecodable += 1
        if self.undecodable > self.max_undecodable:
            self.limits.append('more than %d undecodable bytes in executable code: not '
                               'x86-64 code' % self.max_undecodable)


def scan(code_ranges, max_code_bytes=MAX_CODE_BYTES, max_instructions=MAX_INSTRUCTIONS,
         max_undecodable=MAX_UNDECODABLE_BYTES, max_rejections=MAX_REJECTIONS) -> ScanResult:
    """Scan ``code_ranges`` (objects with ``vaddr`` and ``data``: bytes or memoryview) and
    return what was found."""
    state = _Scan(max_rejections, max_undecodable, max_instructions)
    total = sum(len(r.data) for r in code_ranges)
    if total > max_code_bytes:
        state.limits.append('%d bytes of executable code, more than the %d bytes the scan '
                            'accepts' % (total, max_code_bytes))
    else:
        disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        for code_range in code_ranges:
            _scan_range(disassembler, code_range.vaddr, code_range.data, state)
            if state.stopped:
                break
    return ScanResult(tuple(state.rejections), dict(state.warnings), tuple(state.limits),
                      state.undecodable, state.instructions)


def _scan_range(disassembler, base, data, state):
    """Linear sweep of ``data`` mapped at ``base``, window by window."""
    offset = 0
    size = len(data)
    while offset < size and not state.stopped:
        window_end = min(offset + WINDOW_BYTES, size)
        chunk = bytes(data[offset:window_end + MAX_INSTRUCTION_BYTES - 1])
        next_offset = offset
        count = 0
        for address, length, mnemonic, op_str in disassembler.disasm_lite(chunk, base + offset):
            start = address - base
            if start >= window_end:
                break
            count += 1
            next_offset = start + length
            if mnemonic in _INTERESTING or ' ' in mnemonic:
                _classify(mnemonic, op_str, address, data[start:next_offset], state)
                if state.stopped:
                    break
        state.count(count)
        if next_offset < window_end and not state.stopped:
            state.skip_undecodable()      # capstone stopped on a byte it cannot decode
            next_offset += 1
        offset = next_offset


def _classify(mnemonic, op_str, address, raw, state):
    """Record the instruction (``raw`` bytes) if it is rejected or warned about."""
    base = mnemonic.rpartition(' ')[2]   # drop prefixes: 'rep insb', 'notrack jmp'
    text = ('%s %s' % (mnemonic, op_str)).strip()
    why = REJECTED.get(base) or _operand_problem(base, op_str, raw)
    if why == _FAR and base in ('jmp', 'call'):
        text = 'l' + text.replace('ptr ', '', 1) if text.startswith(base) else text
    if why:
        state.reject(Hit(address, text, why))
    elif base in WARNED:
        state.warn(base, Hit(address, text, WARNED[base]))


def _operand_problem(base, op_str, raw):
    """Return why an operand-dependent instruction is rejected, or None."""
    if base == 'int':
        return None if op_str == '3' else 'software interrupt'
    if base == 'mov':
        if op_str[:2] in _SEGMENT_REGISTERS and op_str[2:3] == ',':
            return _SEGMENT
        if ('cr' in op_str or 'dr' in op_str) and any(
                token.strip() in _CONTROL_OR_DEBUG for token in op_str.split(',')):
            return 'control or debug register access'
        return None
    if base == 'pop':
        return _SEGMENT if op_str in _SEGMENT_REGISTERS else None
    if base in ('jmp', 'call') and '[' in op_str and not op_str.startswith('qword'):
        return _FAR if _is_far_indirect(bytes(raw)) else None
    return None


def _is_far_indirect(raw):
    """True for ``FF /3`` (far call) or ``FF /5`` (far jmp) after any prefixes."""
    index = 0
    while index < len(raw) and raw[index] in _LEGACY_PREFIXES:
        index += 1
    if index < len(raw) and 0x40 <= raw[index] <= 0x4f:   # REX
        index += 1
    return (index + 1 < len(raw) and raw[index] == 0xff
            and (raw[index + 1] >> 3) & 7 in (3, 5))
