"""ELF structure checks for executables submitted to the sandbox (the pyelftools adapter).

:func:`check_elf` decides whether a file is a static x86-64 Linux executable that the sandbox
is willing to ``execveat``, and hands the instruction scanner (:mod:`.insn_scan`) the code
to scan.  It is the only module that imports pyelftools.

Accepted: 64-bit little-endian x86-64 ``ET_EXEC``, or static-PIE (``ET_DYN`` without
``PT_INTERP`` and without ``DT_NEEDED``).  Rejected, each with a reason naming the field:

- a file larger than ``max_size_bytes``, shorter than an ELF header, not ELF, ELF32,
  big-endian, another machine, another OS ABI, another ELF version;
- a program header table that is empty, has more than :data:`MAX_PROGRAM_HEADERS` entries,
  entries that are not 56 bytes, or lies outside the file; the same for the section header
  table (:data:`MAX_SECTION_HEADERS`, 64-byte entries, ``e_shstrndx`` in range, extended
  numbering is refused);
- ``PT_INTERP``, ``DT_NEEDED``, any segment type outside :data:`KNOWN_SEGMENT_TYPES`;
- a ``PT_LOAD`` that is both writable and executable, has ``p_filesz > p_memsz``, is not
  page-congruent (``p_vaddr - p_offset`` not a multiple of 4096), is out of ascending order or
  overlaps another one; a segment whose file bytes lie past the end of the file;
- an address outside ``[0x10000, 2**47)`` (``mmap_min_addr`` to the top of the user address
  space).  For static-PIE the addresses are relative to a base the kernel chooses, so only the
  upper bound applies;
- an executable stack: ``PT_GNU_STACK`` with ``PF_X``, **or no ``PT_GNU_STACK`` at all** (the
  kernel then gives the process an executable stack; every current toolchain emits the
  header, so a missing one is rejected rather than warned about);
- an entry point outside the file-backed part of a readable and executable ``PT_LOAD``.

Hostile input never raises, hangs or allocates much: every table is bounds-checked before it
is read, and every read is a fixed-size ``struct`` record at a checked offset.  pyelftools
supplies the ELF constants and the names used in the reasons; its readers are not used on
untrusted files because they follow offsets without bounds (section names are read up to the
next NUL wherever it is, linked sections are built recursively) and are slow (its symbol
iteration costs ~60 ms on a glibc-static hello, the ``struct`` reader ~2 ms).  As a last
line, :func:`check_elf` turns any exception into a reason.
"""
import bisect
import collections
import dataclasses
import struct
from typing import Optional

from elftools.elf import descriptions, enums

MAX_PROGRAM_HEADERS = 128        # real static executables have about 10
MAX_SECTION_HEADERS = 4096       # real static executables have about 40
MAX_DYNAMIC_BYTES = 1 << 20      # a static-PIE PT_DYNAMIC holds a few dozen tags
MMAP_MIN_ADDR = 0x10000
USER_ADDRESS_LIMIT = 1 << 47
PAGE_SIZE = 4096

EHDR = struct.Struct('<16sHHIQQQIHHHHHH')
Header = collections.namedtuple('Header', 'ident type machine version entry phoff shoff flags '
                                           'ehsize phentsize phnum shentsize shnum shstrndx')
PHDR = struct.Struct('<IIQQQQQQ')
SHDR = struct.Struct('<IIQQQQIIQQ')
SYM = struct.Struct('<IBBHQQ')

ET_EXEC = enums.ENUM_E_TYPE['ET_EXEC']
ET_DYN = enums.ENUM_E_TYPE['ET_DYN']
EM_X86_64 = enums.ENUM_E_MACHINE['EM_X86_64']
OSABI_SYSV = enums.ENUM_EI_OSABI['ELFOSABI_SYSV']
OSABI_GNU = enums.ENUM_EI_OSABI['ELFOSABI_LINUX']
PF_X, PF_W, PF_R = 1, 2, 4
_P_TYPE = enums.ENUM_P_TYPE_BASE
PT_LOAD = _P_TYPE['PT_LOAD']
PT_DYNAMIC = _P_TYPE['PT_DYNAMIC']
PT_INTERP = _P_TYPE['PT_INTERP']
PT_GNU_STACK = _P_TYPE['PT_GNU_STACK']
SHT_SYMTAB = enums.ENUM_SH_TYPE_BASE['SHT_SYMTAB']
SHT_STRTAB = enums.ENUM_SH_TYPE_BASE['SHT_STRTAB']
SHT_NOBITS = enums.ENUM_SH_TYPE_BASE['SHT_NOBITS']
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
STT_FUNC = enums.ENUM_ST_INFO_TYPE['STT_FUNC']
DT_NEEDED = enums.ENUM_D_TAG_COMMON['DT_NEEDED']
MAX_SYMBOLS = 1 << 18            # glibc-static hello has ~2,000; more are left unsymbolised

# Segment types a static executable may carry (PT_INTERP is known, and rejected by name).
KNOWN_SEGMENT_TYPES = {_P_TYPE[name]: name for name in (
    'PT_NULL', 'PT_LOAD', 'PT_DYNAMIC', 'PT_INTERP', 'PT_NOTE', 'PT_PHDR', 'PT_TLS',
    'PT_GNU_EH_FRAME', 'PT_GNU_STACK', 'PT_GNU_RELRO', 'PT_GNU_PROPERTY')}
KNOWN_SEGMENT_TYPES[0x6474e554] = 'PT_GNU_SFRAME'   # binutils >= 2.40; unknown to pyelftools
KNOWN_SEGMENT_TYPES[0x65041580] = 'PT_PAX_FLAGS'    # emitted by the Go linker; ignored by Linux


@dataclasses.dataclass(frozen=True)
class CodeRange:
    """Bytes that will be mapped executable, at their (link-time) virtual address.

    ``data`` is a memoryview of the file (no copy) when it comes from :func:`check_elf`.
    """
    vaddr: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class Segment:
    """One program header, as integers."""
    index: int
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    @property
    def name(self):
        return KNOWN_SEGMENT_TYPES.get(self.type, '0x%x' % self.type)


@dataclasses.dataclass(frozen=True)
class ElfFacts:
    """What :func:`check_elf` found.

    ``reasons`` empty means the structure is acceptable; ``code`` then lists the executable
    bytes to scan and ``symbols`` the sorted ``(start, end, name)`` function symbols (empty
    when the file has no symbol table).
    """
    reasons: tuple = ()
    warnings: tuple = ()
    code: tuple = ()
    symbols: tuple = ()


def check_elf(data: bytes, max_size_bytes: int) -> ElfFacts:
    """Check the structure of the executable ``data``; never raises on any input."""
    try:
        return _check_elf(data, max_size_bytes)
    except Exception as exc:  # a bug here must reject the file, never crash the caller
        return ElfFacts(reasons=('malformed ELF (%s: %s)' % (type(exc).__name__, exc),))


def _check_elf(data, max_size_bytes):
    if len(data) > max_size_bytes:
        return ElfFacts(reasons=('executable is %d bytes, larger than the limit of %d bytes'
                                 % (len(data), max_size_bytes),))
    reasons = _check_header(data)
    if reasons:
        return ElfFacts(reasons=tuple(reasons))
    header = Header._make(EHDR.unpack_from(data))
    segments = _read_segments(data, header)
    reasons = _check_segments(data, header, segments)
    sections = _read_sections(data, header, reasons)
    if reasons:
        return ElfFacts(reasons=tuple(reasons))
    symbols, warnings = _read_symbols(data, sections)
    return ElfFacts(code=tuple(_code_ranges(data, header, segments, sections)),
                    symbols=symbols, warnings=warnings)


def _check_header(data):
    """Return the reasons the ELF header or its tables are unusable (empty when sane)."""
    if len(data) < EHDR.size:
        return ['file is %d bytes, shorter than a 64-bit ELF header (64 bytes)' % len(data)]
    (ident, e_type, machine, version, _entry, phoff, shoff, _flags, ehsize, phentsize,
     phnum, shentsize, shnum, shstrndx) = EHDR.unpack_from(data)
    if ident[:4] != b'\x7fELF':
        return ['not an ELF file (bad magic %r)' % ident[:4]]
    if ident[4] != 2:
        return ['EI_CLASS is %d: only 64-bit ELF (2) is accepted' % ident[4]]
    if ident[5] != 1:
        return ['EI_DATA is %d: only little-endian ELF (1) is accepted' % ident[5]]
    reasons = []
    if machine != EM_X86_64:
        reasons.append('e_machine is %d (%s): only x86-64 (62) is accepted'
                       % (machine, _machine_name(machine)))
    if ident[6] != 1 or version != 1:
        reasons.append('ELF version is %d/%d: only 1 is accepted' % (ident[6], version))
    if ident[7] not in (OSABI_SYSV, OSABI_GNU):
        reasons.append('EI_OSABI is %d: only SYSV (0) or GNU/Linux (3) is accepted' % ident[7])
    if e_type not in (ET_EXEC, ET_DYN):
        reasons.append('e_type is %d: only ET_EXEC (2) or static-PIE ET_DYN (3) is accepted'
                       % e_type)
    if ehsize != EHDR.size:
        reasons.append('e_ehsize is %d, not 64' % ehsize)
    reasons += _check_table('program header', phoff, phnum, phentsize, PHDR.size,
                            MAX_PROGRAM_HEADERS, len(data))
    if phnum == 0:
        reasons.append('e_phnum is 0: no program headers')
    if shnum == 0 and shoff != 0:
        reasons.append('e_shnum is 0 with e_shoff %d: extended section numbering is '
                       'not supported' % shoff)
    reasons += _check_table('section header', shoff, shnum, shentsize, SHDR.size,
                            MAX_SECTION_HEADERS, len(data))
    if shnum and shstrndx >= shnum:
        reasons.append('e_shstrndx %d is not below e_shnum %d' % (shstrndx, shnum))
    return reasons


def _check_table(what, offset, count, entsize, expected_entsize, max_count, file_size):
    """Return reasons why a header table (offset, count x entsize) is not sane."""
    if count == 0:
        return []
    if count > max_count:
        return ['%s count %d exceeds the limit of %d' % (what, count, max_count)]
    if entsize != expected_entsize:
        return ['%s entry size is %d, not %d' % (what, entsize, expected_entsize)]
    if offset + count * entsize > file_size:
        return ['%s table (offset %d, %d entries) extends past the end of the file (%d bytes)'
                % (what, offset, count, file_size)]
    return []


def _read_segments(data, header):
    """Return the program headers as :class:`Segment` values (the table is known sane)."""
    segments = []
    for index in range(header.phnum):
        p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = PHDR.unpack_from(
            data, header.phoff + index * PHDR.size)
        segments.append(Segment(index, p_type, flags, offset, vaddr, filesz, memsz))
    return segments


def _check_segments(data, header, segments):
    """Return the reasons the program headers are unacceptable."""
    reasons = []
    for seg in segments:
        reasons += _check_one_segment(seg, len(data))
    loads = [s for s in segments if s.type == PT_LOAD]
    if not loads:
        reasons.append('no PT_LOAD segment')
    reasons += _check_load_layout(loads, relative=header.type == ET_DYN)
    stacks = [s for s in segments if s.type == PT_GNU_STACK]
    if not stacks:
        reasons.append('no PT_GNU_STACK: the kernel would give the program an executable stack')
    elif any(s.flags & PF_X for s in stacks):
        reasons.append('PT_GNU_STACK asks for an executable stack')
    reasons += _check_entry(header.entry, loads)
    dynamics = [s for s in segments if s.type == PT_DYNAMIC]
    if dynamics and not reasons:
        reasons += _check_dynamic(data, dynamics)
    return reasons


def _check_one_segment(seg, file_size):
    """Return the reasons one program header is unacceptable on its own."""
    where = 'segment %d (%s)' % (seg.index, seg.name)
    if seg.type not in KNOWN_SEGMENT_TYPES:
        return ['%s: unknown segment type' % where]
    if seg.type == PT_INTERP:
        return ['%s: dynamically linked (has an interpreter); only static executables run'
                % where]
    reasons = []
    if seg.filesz and seg.offset + seg.filesz > file_size:
        reasons.append('%s: file bytes [%d, %d) extend past the end of the file (%d bytes)'
                       % (where, seg.offset, seg.offset + seg.filesz, file_size))
    if seg.type != PT_LOAD:
        return reasons
    if seg.flags & PF_W and seg.flags & PF_X:
        reasons.append('%s: both writable and executable' % where)
    if seg.filesz > seg.memsz:
        reasons.append('%s: p_filesz %d larger than p_memsz %d' % (where, seg.filesz, seg.memsz))
    if (seg.vaddr - seg.offset) % PAGE_SIZE:
        reasons.append('%s: p_vaddr 0x%x and p_offset 0x%x are not congruent modulo the page '
                       'size' % (where, seg.vaddr, seg.offset))
    return reasons


def _check_load_layout(loads, relative):
    """Return reasons about PT_LOAD order, overlap and address range."""
    reasons = []
    previous = None
    for seg in loads:
        end = seg.vaddr + seg.memsz
        where = 'segment %d (PT_LOAD)' % seg.index
        if end > USER_ADDRESS_LIMIT:
            reasons.append('%s: ends at 0x%x, above the user address space (2**47)'
                           % (where, end))
        if not relative and seg.vaddr < MMAP_MIN_ADDR:
            reasons.append('%s: p_vaddr 0x%x below mmap_min_addr (0x%x)'
                           % (where, seg.vaddr, MMAP_MIN_ADDR))
        if previous is not None and seg.vaddr < previous.vaddr + previous.memsz:
            reasons.append('%s: [0x%x, 0x%x) overlaps or precedes segment %d'
                           % (where, seg.vaddr, end, previous.index))
        previous = seg
    return reasons


def _check_entry(entry, loads):
    """Return a reason unless ``entry`` is in the file-backed part of an R+X PT_LOAD."""
    for seg in loads:
        if seg.vaddr <= entry < seg.vaddr + seg.filesz:
            if seg.flags & (PF_R | PF_X) == PF_R | PF_X:
                return []
            return ['entry point 0x%x is in segment %d, which is not readable and executable'
                    % (entry, seg.index)]
    return ['entry point 0x%x is not in the file-backed part of any PT_LOAD segment' % entry]


def _check_dynamic(data, dynamics):
    """Return reasons from the dynamic segments: DT_NEEDED means shared libraries."""
    reasons = []
    for seg in dynamics:
        if seg.filesz > MAX_DYNAMIC_BYTES:
            reasons.append('segment %d (PT_DYNAMIC): %d bytes, more than the limit of %d'
                           % (seg.index, seg.filesz, MAX_DYNAMIC_BYTES))
            continue
        for offset in range(seg.offset, seg.offset + seg.filesz - 15, 16):
            tag, _value = struct.unpack_from('<qQ', data, offset)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                reasons.append('segment %d (PT_DYNAMIC): DT_NEEDED, needs shared libraries; '
                               'only static executables run' % seg.index)
                break
    return reasons


@dataclasses.dataclass(frozen=True)
class _Section:
    """One section header, as integers (names are not needed)."""
    type: int
    flags: int
    offset: int
    size: int
    link: int
    entsize: int


def _read_sections(data, header, reasons):
    """Return the section headers, appending reasons for unusable ones.

    Sections do not matter to the kernel, but a table that points outside the file is a
    corrupt (or hostile) file, and the symbol table and executable sections are used later.
    """
    if reasons or header.shnum == 0:
        return []
    raw = [SHDR.unpack_from(data, header.shoff + index * SHDR.size)
           for index in range(header.shnum)]
    reasons += _check_raw_sections(data, raw)
    if reasons:
        return []
    return [_Section(h[1], h[2], h[4], h[5], h[6], h[9]) for h in raw]


def _check_raw_sections(data, raw):
    """Return the reasons the section headers (as integers) are unusable."""
    reasons = []
    for index, (_n, sh_type, _f, _a, offset, size, *_rest) in enumerate(raw):
        if sh_type != SHT_NOBITS and offset + size > len(data):
            reasons.append('section %d: [%d, %d) extends past the end of the file (%d bytes)'
                           % (index, offset, offset + size, len(data)))
    if reasons:
        return reasons
    return reasons


def _code_ranges(data, header, segments, sections):
    """Return the executable bytes to scan, each range to be swept from its own start.

    Without section headers: every executable ``PT_LOAD``'s file bytes.  With them: each
    executable section on its own (a sweep that ran on from the end of ``.text`` through a
    padding byte into ``.init`` would decode it misaligned), plus the bytes of executable
    segments that no allocated section claims (hidden code) unless they are only padding
    (``00``, ``90``, ``cc``).  Allocated data sections and the ELF and program headers, which
    old ``-z noseparate-code`` layouts map executable, are left out: decoding them as code
    gives floods of false ``in``/``out``/``cli`` hits.
    """
    view = memoryview(data)
    excluded = [(0, EHDR.size), (header.phoff, header.phoff + header.phnum * PHDR.size)]
    excluded += [(s.offset, s.offset + s.size) for s in sections
                 if s.flags & SHF_ALLOC and s.type != SHT_NOBITS]
    code_sections = [(s.offset, s.offset + s.size) for s in sections
                     if s.flags & SHF_ALLOC and s.flags & SHF_EXECINSTR
                     and s.type != SHT_NOBITS and s.size]
    ranges = []
    for seg in segments:
        if seg.type != PT_LOAD or not seg.flags & PF_X or not seg.filesz:
            continue
        whole = [(seg.offset, seg.offset + seg.filesz)]
        pieces = [(start, end) for start, end in _subtract(whole, excluded)
                  if bytes(view[start:end]).strip(b'\x00\x90\xcc')]
        for hole_start, hole_end in code_sections:
            pieces += _subtract(whole, [(0, hole_start), (hole_end, 2**64)])
        for start, end in sorted(pieces):
            if start < end:
                ranges.append(CodeRange(seg.vaddr + start - seg.offset, view[start:end]))
    return ranges


def _subtract(ranges, holes):
    """Return ``ranges`` (half-open intervals) minus every interval in ``holes``."""
    for hole_start, hole_end in holes:
        remaining = []
        for start, end in ranges:
            if hole_end <= start or hole_start >= end:
                remaining.append((start, end))
                continue
            if start < hole_start:
                remaining.append((start, hole_start))
            if hole_end < end:
                remaining.append((hole_end, end))
        ranges = remaining
    return ranges


def _read_symbols(data, sections):
    """Return (sorted ``(start, end, name)`` function symbols of ``.symtab``, warnings)."""
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    if symtab is None or symtab.entsize != SYM.size or symtab.link >= len(sections):
        return (), ()
    strtab = sections[symtab.link]
    if strtab.type != SHT_STRTAB:
        return (), ()
    count = symtab.size // SYM.size
    if count > MAX_SYMBOLS:
        return (), ('symbol table has %d entries (limit %d): addresses are not symbolised'
                    % (count, MAX_SYMBOLS),)
    symbols = []
    for name_offset, info, _other, _shndx, value, size in struct.iter_unpack(
            SYM.format, data[symtab.offset:symtab.offset + count * SYM.size]):
        if info & 0xf != STT_FUNC or name_offset >= strtab.size:
            continue
        name = _string_at(data, strtab.offset + name_offset, strtab.offset + strtab.size)
        symbols.append((value, value + max(size, 1), name))
    symbols.sort()
    return tuple(symbols), ()


def _string_at(data, start, limit):
    """Return the NUL-terminated string at ``start`` (not reading at or past ``limit``)."""
    end = data.find(b'\0', start, limit)
    return data[start:end if end >= 0 else limit].decode('utf-8', 'replace')


def _machine_name(machine):
    """Return pyelftools' description of an ``e_machine`` number."""
    for name, number in enums.ENUM_E_MACHINE.items():
        if number == machine:
            return descriptions.describe_e_machine(name)
    return 'unknown machine'


def symbol_for(symbols, address) -> Optional[str]:
    """Return ``name`` or ``name+0xN`` for ``address`` from :attr:`ElfFacts.symbols`."""
    index = bisect.bisect_right(symbols, (address, float('inf'))) - 1
    if index < 0:
        return None
    start, end, name = symbols[index]
    if not start <= address < end:
        return None
    return name if address == start else '%s+0x%x' % (name, address - start)
