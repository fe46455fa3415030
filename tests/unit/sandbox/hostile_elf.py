"""Builders of small ELF files, valid and hostile, as bytes (no compiler needed).

:func:`build` assembles an ELF header, a program header table and a payload from plain
values, deliberately allowing every inconsistency.  :func:`minimal_static` is a real,
runnable static x86-64 executable (it calls ``exit(0)``); every ``HOSTILE`` builder breaks
one property of it, named by the builder, together with the words the rejection reason must
contain.
"""
import random
import struct

EHDR = struct.Struct('<16sHHIQQQIHHHHHH')
PHDR = struct.Struct('<IIQQQQQQ')
SHDR = struct.Struct('<IIQQQQIIQQ')

PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 0, 1, 2, 3, 4
PT_GNU_STACK = 0x6474e551
PF_X, PF_W, PF_R = 1, 2, 4
ET_EXEC, ET_DYN = 2, 3
CODE_OFFSET = 0x1000
BASE = 0x400000
CODE_VADDR = BASE + CODE_OFFSET
# mov edi, 0; mov eax, 60 (exit); syscall
EXIT_0 = b'\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05'


def phdr(p_type, flags, offset, vaddr, filesz, memsz=None, align=0x1000):
    """Return one program header entry."""
    return PHDR.pack(p_type, flags, offset, vaddr, vaddr, filesz,
                     filesz if memsz is None else memsz, align)


def code_segment(code=EXIT_0, flags=PF_R | PF_X, vaddr=CODE_VADDR):
    """The PT_LOAD that maps the payload at CODE_OFFSET."""
    return phdr(PT_LOAD, flags, CODE_OFFSET, vaddr, len(code))


def stack_segment(flags=PF_R | PF_W):
    return phdr(PT_GNU_STACK, flags, 0, 0, 0, align=16)


def build(phdrs, payload=EXIT_0, entry=CODE_VADDR, e_type=ET_EXEC, machine=62, ei_class=2,
          ei_data=1, osabi=0, phnum=None, phentsize=PHDR.size, phoff=EHDR.size,
          shoff=0, shnum=0, shentsize=SHDR.size, shstrndx=0, extra=b''):
    """Return an ELF file: header, ``phdrs`` (list of packed entries), payload at 0x1000.

    ``extra`` is appended after the payload (section headers, dynamic tables...).
    """
    ident = b'\x7fELF' + bytes((ei_class, ei_data, 1, osabi)) + bytes(8)
    header = EHDR.pack(ident, e_type, machine, 1, entry, phoff, shoff, 0, EHDR.size,
                       phentsize, len(phdrs) if phnum is None else phnum, shentsize, shnum,
                       shstrndx)
    table = b''.join(phdrs)
    head = header + table
    if len(head) > CODE_OFFSET:
        raise ValueError('headers do not fit before the payload')
    return head + bytes(CODE_OFFSET - len(head)) + payload + extra


def minimal_static(code=EXIT_0):
    """A runnable static executable: one R+X PT_LOAD with ``code``, a non-exec stack."""
    return build([code_segment(code), stack_segment()], payload=code)


def static_pie(needed=False):
    """A static-PIE (ET_DYN, addresses from 0) with a PT_DYNAMIC, with or without DT_NEEDED."""
    tags = (struct.pack('<qQ', 1, 1) if needed else b'') + struct.pack('<qQ', 0, 0)
    dynamic_offset = CODE_OFFSET + len(EXIT_0)
    return build([phdr(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_OFFSET, len(EXIT_0)),
                  phdr(PT_DYNAMIC, PF_R, dynamic_offset, 0x3000, len(tags), align=8),
                  stack_segment()],
                 entry=CODE_OFFSET, e_type=ET_DYN, extra=tags)


BLOB_OFFSET = CODE_OFFSET + len(EXIT_0)


def with_sections(sections, blob=b'', names=b'\0.shstrtab\0', shstrndx=1, code=EXIT_0):
    """minimal_static plus a section header table: ``sections`` are packed SHDR entries.

    ``blob`` (section contents) is placed right after ``code`` (at :data:`BLOB_OFFSET` for
    the default code); the section names and the table follow.  A NULL section and
    ``.shstrtab`` (index 1) come first, so the caller's sections are numbered from 2.
    """
    names_offset = CODE_OFFSET + len(code) + len(blob)
    table_offset = names_offset + len(names)
    table = (bytes(SHDR.size) + SHDR.pack(1, 3, 0, 0, names_offset, len(names), 0, 0, 1, 0)
             + b''.join(sections))
    return build([code_segment(code), stack_segment()], payload=code, shoff=table_offset,
                 shnum=len(table) // SHDR.size, shstrndx=shstrndx, extra=blob + names + table)


def code_section(offset, size):
    """A SHF_ALLOC|SHF_EXECINSTR PROGBITS section header for payload bytes at ``offset``."""
    return SHDR.pack(0, 1, 0x6, CODE_VADDR + offset - CODE_OFFSET, offset, size, 0, 0, 1, 0)


def _truncated():
    return minimal_static()[:100]


def _overflowing_phoff():
    return build([code_segment(), stack_segment()], phoff=2**64 - 8)


def _huge_phnum():
    return build([code_segment(), stack_segment()], phnum=0xffff)


def _huge_phentsize():
    return build([code_segment(), stack_segment()], phentsize=0xffff)


def _huge_shnum():
    return build([code_segment(), stack_segment()], shoff=CODE_OFFSET, shnum=0xffff)


def _random_bytes():
    return random.Random(7).randbytes(4096)


def _header_and_garbage():
    return minimal_static()[:EHDR.size] + random.Random(8).randbytes(8192)


# name -> (builder, words the rejection reason must contain)
HOSTILE = {
    'empty': (lambda: b'', 'shorter than a 64-bit ELF header'),
    'truncated_header': (lambda: minimal_static()[:40], 'shorter than a 64-bit ELF header'),
    'truncated_program_headers': (_truncated, 'program header table'),
    'truncated_payload': (lambda: minimal_static()[:CODE_OFFSET + 4],
                          'extend past the end of the file'),
    'not_elf': (lambda: b'#!/bin/sh\necho hi\n' + bytes(100), 'not an ELF file'),
    'random_bytes': (_random_bytes, 'not an ELF file'),
    'header_and_garbage': (_header_and_garbage, 'segment'),
    'elf32_i386': (lambda: build([code_segment(), stack_segment()], ei_class=1, machine=3),
                   'EI_CLASS is 1'),
    'aarch64': (lambda: build([code_segment(), stack_segment()], machine=183), 'e_machine is 183'),
    'big_endian': (lambda: build([code_segment(), stack_segment()], ei_data=2), 'EI_DATA is 2'),
    'other_osabi': (lambda: build([code_segment(), stack_segment()], osabi=9), 'EI_OSABI is 9'),
    'relocatable_object': (lambda: build([code_segment(), stack_segment()], e_type=1),
                           'e_type is 1'),
    'interpreter': (lambda: build([phdr(PT_INTERP, PF_R, 0x200, BASE + 0x200, 28),
                                   code_segment(), stack_segment()]), 'interpreter'),
    'needs_shared_libraries': (lambda: static_pie(needed=True), 'DT_NEEDED'),
    'unknown_segment_type': (lambda: build([code_segment(), stack_segment(),
                                            phdr(0x60000042, PF_R, 0, 0, 0)]),
                             'unknown segment type'),
    'shlib_segment': (lambda: build([code_segment(), stack_segment(), phdr(5, PF_R, 0, 0, 0)]),
                      'unknown segment type'),
    'writable_and_executable': (lambda: build([code_segment(flags=PF_R | PF_W | PF_X),
                                               stack_segment()]), 'writable and executable'),
    'entry_outside_code': (lambda: build([code_segment(), stack_segment()], entry=0x900000),
                           'not in the file-backed part'),
    'entry_in_data_segment': (lambda: build([code_segment(), stack_segment(),
                                             phdr(PT_LOAD, PF_R | PF_W, CODE_OFFSET,
                                                  0x600000 + CODE_OFFSET, 9)],
                                            entry=0x601000), 'not readable and executable'),
    'entry_in_bss': (lambda: build([phdr(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_VADDR, 9,
                                         memsz=0x2000), stack_segment()],
                                   entry=CODE_VADDR + 0x100), 'not in the file-backed part'),
    'huge_phnum': (_huge_phnum, 'program header count 65535'),
    'huge_phentsize': (_huge_phentsize, 'program header entry size is 65535'),
    'no_program_headers': (lambda: build([], phnum=0), 'e_phnum is 0'),
    'huge_shnum': (_huge_shnum, 'section header count 65535'),
    'overflowing_phoff': (_overflowing_phoff, 'extends past the end of the file'),
    'segment_past_eof': (lambda: build([phdr(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_VADDR,
                                             0x100000), stack_segment()]),
                         'extend past the end of the file'),
    'segment_offset_overflow': (lambda: build([code_segment(), stack_segment(),
                                               phdr(PT_NOTE, PF_R, 2**64 - 4, 0, 16)]),
                                'extend past the end of the file'),
    'filesz_above_memsz': (lambda: build([phdr(PT_LOAD, PF_R | PF_X, CODE_OFFSET, CODE_VADDR,
                                               9, memsz=4), stack_segment()]),
                           'larger than p_memsz'),
    'overlapping_loads': (lambda: build([code_segment(), stack_segment(),
                                         phdr(PT_LOAD, PF_R, CODE_OFFSET, CODE_VADDR, 9)]),
                          'overlaps'),
    'vaddr_above_user_space': (lambda: build([code_segment(vaddr=2**47), stack_segment()],
                                             entry=2**47), 'above the user address space'),
    'vaddr_wraps': (lambda: build([code_segment(vaddr=2**64 - 0x1000), stack_segment()],
                                  entry=2**64 - 0x1000), 'above the user address space'),
    'vaddr_below_mmap_min_addr': (lambda: build([code_segment(vaddr=0x1000), stack_segment()],
                                                entry=0x1000), 'below mmap_min_addr'),
    'not_page_congruent': (lambda: build([code_segment(vaddr=CODE_VADDR + 8), stack_segment()],
                                         entry=CODE_VADDR + 8), 'not congruent'),
    'executable_stack': (lambda: build([code_segment(), stack_segment(PF_R | PF_W | PF_X)]),
                         'executable stack'),
    'missing_gnu_stack': (lambda: build([code_segment()]), 'no PT_GNU_STACK'),
    'no_load_segment': (lambda: build([stack_segment()]), 'no PT_LOAD'),
    'section_past_eof': (lambda: with_sections([SHDR.pack(0, 1, 6, CODE_VADDR, 2**40, 16,
                                                          0, 0, 16, 0)]),
                         'section 2'),
    'shstrndx_out_of_range': (lambda: with_sections([], shstrndx=9), 'e_shstrndx 9'),
    'extended_section_numbering': (lambda: build([code_segment(), stack_segment()],
                                                 shoff=CODE_OFFSET, shnum=0),
                                   'extended section numbering'),
    'forbidden_instruction': (lambda: minimal_static(b'\xcd\x80' + EXIT_0), '`int 0x80`'),
}
