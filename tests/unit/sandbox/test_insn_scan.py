"""Instruction scan: forbidden encodings are found and named, allowed pass, work is bounded."""
import pytest

from zerocloud.sandbox import elf_check, insn_scan

BASE = 0x401000
NOPS = b'\x90' * 16

# encoding -> text the scan must report
FORBIDDEN = {
    b'\xcd\x80': 'int 0x80',
    b'\xcd\x21': 'int 0x21',
    b'\xf1': 'int1',
    b'\x0f\x34': 'sysenter',
    b'\x0f\x35': 'sysexit',
    b'\x0f\x07': 'sysret',
    b'\x48\x0f\x07': 'sysretq',
    b'\xff\x18': 'lcall [rax]',
    b'\xff\x28': 'ljmp [rax]',
    b'\x48\xff\x18': 'lcall [rax]',
    b'\x66\xff\x28': 'ljmp [rax]',
    b'\xcb': 'retf',
    b'\x48\xcb': 'retfq',
    b'\xca\x08\x00': 'retf 8',
    b'\xcf': 'iretd',
    b'\x48\xcf': 'iretq',
    b'\x8e\xd8': 'mov ds, eax',
    b'\x8e\xd0': 'mov ss, eax',
    b'\x8e\xe0': 'mov fs, eax',
    b'\x8e\x28': 'mov gs, word ptr [rax]',
    b'\x0f\xa1': 'pop fs',
    b'\x0f\xa9': 'pop gs',
    b'\x0f\xb4\x00': 'lfs eax, ptr [rax]',
    b'\x0f\xb2\x00': 'lss eax, ptr [rax]',
    b'\xec': 'in al, dx',
    b'\xe6\x80': 'out 0x80, al',
    b'\x6c': 'insb byte ptr [rdi], dx',
    b'\xf3\x6e': 'rep outsb dx, byte ptr [rsi]',
    b'\xfa': 'cli',
    b'\xfb': 'sti',
    b'\x0f\x01\x10': 'lgdt [rax]',
    b'\x0f\x01\x18': 'lidt [rax]',
    b'\x0f\x00\x18': 'ltr word ptr [rax]',
    b'\x0f\x01\x00': 'sgdt [rax]',
    b'\x0f\x00\x08': 'str word ptr [rax]',
    b'\x0f\x22\xc0': 'mov cr0, rax',
    b'\x0f\x20\xd8': 'mov rax, cr3',
    b'\x0f\x23\xf8': 'mov dr7, rax',
    b'\x0f\x30': 'wrmsr',
    b'\x0f\x32': 'rdmsr',
    b'\x0f\x09': 'wbinvd',
    b'\x0f\x01\x38': 'invlpg byte ptr [rax]',
    b'\x0f\x06': 'clts',
    b'\x0f\x01\xf8': 'swapgs',
    b'\x0f\x33': 'rdpmc',
    b'\x0f\x01\xc1': 'vmcall',
    b'\x0f\x01\xd9': 'vmmcall',
    b'\x0f\x01\xd1': 'xsetbv',
}

ALLOWED = {
    b'\x0f\x05': 'syscall',
    b'\xf4': 'hlt',
    b'\x0f\x0b': 'ud2',
    b'\xcc': 'int3',
    b'\xcd\x03': 'int 3',
    b'\xff\x20': 'near jmp qword ptr [rax]',
    b'\xff\x10': 'near call qword ptr [rax]',
    b'\xff\xe0': 'jmp rax',
    b'\x3e\xff\xe0': 'notrack jmp rax',
    b'\xc3': 'ret',
    b'\x8c\xd8': 'mov eax, ds (a store, not a load)',
    b'\x0f\xa0': 'push fs',
    b'\x64\x48\x8b\x04\x25\x28\x00\x00\x00': 'mov rax, qword ptr fs:[0x28]',
    b'\x0f\x01\xd0': 'xgetbv',
    b'\x48\x89\xc8': 'mov rax, rcx',
}

WARNED = {
    b'\x0f\xa2': 'cpuid',
    b'\x0f\x31': 'rdtsc',
    b'\x0f\x01\xf9': 'rdtscp',
    b'\x0f\xc7\xf0': 'rdrand',
    b'\x0f\xc7\xf8': 'rdseed',
    b'\xc7\xf8\x00\x00\x00\x00': 'xbegin',
}


def scan_bytes(code, **limits):
    return insn_scan.scan([elf_check.CodeRange(BASE, code)], **limits)


@pytest.mark.parametrize('encoding', sorted(FORBIDDEN), ids=lambda e: e.hex())
def test_forbidden_instruction_is_rejected_and_named(encoding):
    result = scan_bytes(NOPS + encoding + NOPS)
    assert [(hit.address, hit.text) for hit in result.rejections] == [
        (BASE + len(NOPS), FORBIDDEN[encoding])]
    assert result.rejections[0].why
    assert result.limits == ()


@pytest.mark.parametrize('encoding', sorted(ALLOWED), ids=lambda e: e.hex())
def test_allowed_instruction_passes(encoding):
    result = scan_bytes(NOPS + encoding + NOPS)
    assert result.rejections == ()
    assert result.warnings == {}
    assert result.undecodable == 0


@pytest.mark.parametrize('encoding', sorted(WARNED), ids=lambda e: e.hex())
def test_nondeterministic_instruction_is_a_warning_not_a_rejection(encoding):
    result = scan_bytes(NOPS + encoding + encoding + NOPS)
    assert result.rejections == ()
    count, first = result.warnings[WARNED[encoding]]
    assert count == 2
    assert first.address == BASE + len(NOPS)


def test_undecodable_byte_is_skipped_and_the_scan_goes_on():
    # 0x06 (push es) does not exist in 64-bit mode
    result = scan_bytes(b'\x06' + b'\xcd\x80')
    assert result.undecodable == 1
    assert [(hit.address, hit.text) for hit in result.rejections] == [(BASE + 1, 'int 0x80')]


def test_instruction_straddling_a_window_boundary_is_decoded_whole():
    code = b'\x90' * (insn_scan.WINDOW_BYTES - 1) + b'\xcd\x80' + NOPS
    result = scan_bytes(code)
    assert [(hit.address, hit.text) for hit in result.rejections] == [
        (BASE + insn_scan.WINDOW_BYTES - 1, 'int 0x80')]
    assert result.instructions == insn_scan.WINDOW_BYTES - 1 + 1 + len(NOPS)
    assert result.undecodable == 0


def test_truncated_instruction_at_the_end_counts_as_undecodable():
    result = scan_bytes(NOPS + b'\x0f')
    assert result.undecodable == 1
    assert result.instructions == len(NOPS)


def test_every_range_is_scanned_from_its_own_start():
    ranges = [elf_check.CodeRange(BASE, b'\x0f'),        # would swallow the next byte
              elf_check.CodeRange(BASE + 0x100, b'\xec')]
    result = insn_scan.scan(ranges)
    assert [hit.address for hit in result.rejections] == [BASE + 0x100]


def test_scan_stops_after_max_rejections():
    result = scan_bytes(b'\xfa' * 1000, max_rejections=5)
    assert len(result.rejections) == 5
    assert result.limits == ('scan stopped after 5 forbidden instructions',)
    assert result.instructions <= 5


def test_scan_stops_after_max_undecodable_bytes():
    result = scan_bytes(b'\x06' * 100000, max_undecodable=10)
    assert result.undecodable == 11
    assert 'more than 10 undecodable bytes' in result.limits[0]


def test_code_larger_than_the_limit_is_not_scanned():
    result = scan_bytes(NOPS * 4 + b'\xcd\x80', max_code_bytes=32)
    assert result.instructions == 0
    assert result.limits == ('66 bytes of executable code, more than the 32 bytes the scan '
                             'accepts',)


def test_garbage_code_is_bounded_by_the_limits():
    import random
    garbage = random.Random(3).randbytes(2**20)
    result = scan_bytes(garbage)
    assert result.limits
    assert len(result.rejections) <= insn_scan.MAX_REJECTIONS


def test_scan_stops_after_max_instructions_at_the_end_of_a_window():
    result = scan_bytes(b'\x90' * (3 * insn_scan.WINDOW_BYTES), max_instructions=10)
    assert result.limits == ('more than 10 instructions of executable code: too large to scan',)
    assert result.instructions == insn_scan.WINDOW_BYTES


def test_memoryview_code_is_scanned_like_bytes():
    code = NOPS + b'\xcd\x80'
    result = insn_scan.scan([elf_check.CodeRange(BASE, memoryview(code))])
    assert [hit.text for hit in result.rejections] == ['int 0x80']
