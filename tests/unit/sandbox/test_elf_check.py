"""ELF structure checks: real static programs pass, every hostile shape is rejected by name."""
import os
import shutil
import subprocess

import pytest

from tests.conftest import PROGRAMS_DIR
from tests.unit.sandbox import hostile_elf
from zerocloud.sandbox import elf_check

LIMIT = 256 * 2**20
STRUCTURAL = {name: case for name, case in hostile_elf.HOSTILE.items()
              if name != 'forbidden_instruction'}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_minimal_static_fixture_is_accepted_and_really_runs(tmp_path):
    data = hostile_elf.minimal_static()
    facts = elf_check.check_elf(data, LIMIT)
    assert facts.reasons == ()
    assert [(c.vaddr, c.data) for c in facts.code] == [(hostile_elf.CODE_VADDR,
                                                         hostile_elf.EXIT_0)]
    program = tmp_path / 'exit0'
    program.write_bytes(data)
    program.chmod(0o755)
    assert subprocess.run([str(program)], timeout=10).returncode == 0


def test_synthetic_static_pie_without_needed_libraries_is_accepted():
    facts = elf_check.check_elf(hostile_elf.static_pie(), LIMIT)
    assert facts.reasons == ()
    assert facts.code[0].vaddr == hostile_elf.CODE_OFFSET


@pytest.mark.parametrize('name', sorted(STRUCTURAL))
def test_hostile_file_is_rejected_with_a_reason(name):
    build, words = STRUCTURAL[name]
    facts = elf_check.check_elf(build(), LIMIT)
    assert any(words in reason for reason in facts.reasons), facts.reasons
    assert facts.code == ()


def test_file_larger_than_the_limit_is_rejected():
    data = hostile_elf.minimal_static()
    facts = elf_check.check_elf(data, len(data) - 1)
    assert facts.reasons == ('executable is %d bytes, larger than the limit of %d bytes'
                             % (len(data), len(data) - 1),)


@pytest.mark.parametrize('libc', ['glibc', 'musl'])
def test_real_static_hello_is_accepted_with_symbols(c_program, libc):
    data = read(c_program('hello', libc=libc))
    facts = elf_check.check_elf(data, LIMIT)
    assert facts.reasons == ()
    names = {name for _start, _end, name in facts.symbols}
    assert 'main' in names
    main_start = next(start for start, _end, name in facts.symbols if name == 'main')
    assert elf_check.symbol_for(facts.symbols, main_start) == 'main'
    assert elf_check.symbol_for(facts.symbols, main_start + 2) == 'main+0x2'
    assert any(c.vaddr <= main_start < c.vaddr + len(c.data) for c in facts.code)


def test_old_layout_scans_code_sections_but_not_headers_or_rodata(c_program):
    # -z noseparate-code maps ELF headers, .rodata and .eh_frame executable, in one segment.
    path = c_program('hello', libc='glibc', extra_flags=('-Wl,-z,noseparate-code',))
    facts = elf_check.check_elf(read(path), LIMIT)
    assert facts.reasons == ()
    scanned = sum(len(c.data) for c in facts.code)
    text = _section_size(path, '.text')
    assert text <= scanned < text + 0x1000     # .text and small code sections, no data
    assert min(c.vaddr for c in facts.code) > 0x400000 + 64   # not the ELF header


def test_real_static_pie_is_accepted(tmp_path):
    compiler = shutil.which('gcc')
    if compiler is None:
        pytest.fail('gcc not found: install gcc and libc6-dev (make deps)')
    program = tmp_path / 'hello-static-pie'
    subprocess.run([compiler, '-static-pie', '-O2', '-o', str(program),
                    os.path.join(PROGRAMS_DIR, 'hello.c')], check=True)
    data = program.read_bytes()
    assert data[16] == elf_check.ET_DYN
    facts = elf_check.check_elf(data, LIMIT)
    assert facts.reasons == ()
    assert facts.code


def test_symbol_names_pointing_outside_the_string_table_are_dropped():
    strtab = b'\0main\0'
    symbols = (bytes(24)
               + elf_check.SYM.pack(1, elf_check.STT_FUNC, 0, 1, hostile_elf.CODE_VADDR, 9)
               + elf_check.SYM.pack(10**6, elf_check.STT_FUNC, 0, 1, 0x401004, 1))
    strtab_offset = hostile_elf.BLOB_OFFSET
    symtab_offset = strtab_offset + len(strtab)
    sections = [hostile_elf.SHDR.pack(0, elf_check.SHT_SYMTAB, 0, 0, symtab_offset,
                                      len(symbols), 3, 0, 8, 24),
                hostile_elf.SHDR.pack(0, elf_check.SHT_STRTAB, 0, 0, strtab_offset,
                                      len(strtab), 0, 0, 1, 0)]
    facts = elf_check.check_elf(hostile_elf.with_sections(sections, strtab + symbols), LIMIT)
    assert facts.reasons == ()
    assert facts.symbols == ((hostile_elf.CODE_VADDR, hostile_elf.CODE_VADDR + 9, 'main'),)


def test_symbol_for_outside_any_function_is_none():
    symbols = ((0x1000, 0x1010, 'f'),)
    assert elf_check.symbol_for(symbols, 0xfff) is None
    assert elf_check.symbol_for(symbols, 0x1010) is None
    assert elf_check.symbol_for((), 0x1000) is None


def _section_size(path, name):
    output = subprocess.run(['readelf', '-SW', path], capture_output=True, text=True,
                            check=True).stdout
    for line in output.splitlines():
        parts = line.replace('[ ', '[').split()
        if len(parts) > 5 and parts[1] == name:
            return int(parts[5], 16)
    raise AssertionError('no section %s in %s' % (name, path))


# .text ends, one padding byte, then .init starts with `sub rsp, 8` (48 83 ec 08): swept on
# from the padding byte, `00 48 83` swallows the start of .init and `ec` reads `in al, dx`
# (what a Rust static-PIE binary's .text/.init boundary looked like).
TEXT = hostile_elf.EXIT_0
INIT = b'\x48\x83\xec\x08' + hostile_elf.EXIT_0
ADJACENT = TEXT + b'\x00' + INIT


def test_each_code_section_is_a_range_of_its_own():
    text_offset = hostile_elf.CODE_OFFSET
    init_offset = text_offset + len(TEXT) + 1
    data = hostile_elf.with_sections([hostile_elf.code_section(text_offset, len(TEXT)),
                                      hostile_elf.code_section(init_offset, len(INIT))],
                                     code=ADJACENT)
    facts = elf_check.check_elf(data, LIMIT)
    assert facts.reasons == ()
    assert [(c.vaddr, bytes(c.data)) for c in facts.code] == [
        (hostile_elf.CODE_VADDR, TEXT), (hostile_elf.CODE_VADDR + len(TEXT) + 1, INIT)]


def test_code_outside_any_section_is_scanned_unless_it_is_padding():
    text_offset = hostile_elf.CODE_OFFSET
    hidden = b'\xcd\x80'
    data = hostile_elf.with_sections([hostile_elf.code_section(text_offset, len(TEXT))],
                                     code=TEXT + b'\xcc\x00' + hidden)
    facts = elf_check.check_elf(data, LIMIT)
    assert [(c.vaddr, bytes(c.data)) for c in facts.code] == [
        (hostile_elf.CODE_VADDR, TEXT), (hostile_elf.CODE_VADDR + len(TEXT), b'\xcc\x00' + hidden)]
    padded = hostile_elf.with_sections([hostile_elf.code_section(text_offset, len(TEXT))],
                                       code=TEXT + b'\xcc\x90\x00')
    assert [bytes(c.data) for c in elf_check.check_elf(padded, LIMIT).code] == [TEXT]
