"""Policy data, seccomp filter golden checks and session-spec JSON round trips."""
import json

import pytest

from zerocloud.sandbox import seccomp_policy as sp
from zerocloud.sandbox.spec import ChannelSpec, ImageSpec, Limits, SessionSpec, SpecError


def pfc(policy):
    return sp.export_pfc(policy)


def action_of(text, syscall):
    """The first action line following the filter block of ``syscall`` in PFC text."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if '# filter for syscall "%s"' % syscall in line:
            for follow in lines[index + 1:]:
                if 'action' in follow:
                    return follow.strip()
    return None


def test_default_action_is_a_user_notification_and_bad_arch_kills():
    text = pfc(sp.STATIC_POLICY)
    tail = text[text.index('# default action'):]
    assert 'action 0x7fc00000;' in tail                # SECCOMP_RET_USER_NOTIF
    assert 'invalid architecture action\naction KILL_PROCESS;' in tail   # i386, x32


@pytest.mark.parametrize('policy', [sp.STATIC_POLICY, sp.PYTHON_POLICY], ids=lambda p: p.name)
@pytest.mark.parametrize('syscall', ['io_uring_setup', 'io_uring_enter', 'memfd_create',
                                     'execve', 'ptrace', 'mount', 'unshare', 'setns',
                                     'pkey_mprotect', 'bpf', 'userfaultfd', 'connect',
                                     'kill', 'tgkill'])
def test_dangerous_calls_have_no_rule_so_they_notify_and_die(policy, syscall):
    assert action_of(pfc(policy), syscall) is None


@pytest.mark.parametrize('syscall,errno_value', [('socket', 1), ('clone', 1),
                                                 ('fork', 1), ('clone3', 38)])
def test_friendly_errors(syscall, errno_value):
    assert action_of(pfc(sp.STATIC_POLICY), syscall) == 'action ERRNO(%d);' % errno_value


@pytest.mark.parametrize('policy', [sp.STATIC_POLICY, sp.PYTHON_POLICY])
def test_ioctl_runs_three_flag_requests_and_answers_enotty_to_the_rest(policy):
    text = pfc(policy)
    block = text[text.index('"ioctl"'):].split('# filter for syscall')[0].split('# default')[0]
    for value in (sp.FIONBIO, sp.FIONCLEX, sp.FIOCLEX):
        assert '$a1.lo32 == %d)\n        action ALLOW;' % value in block
    assert block.count('action ALLOW;') == 3 and 'ERRNO(25)' in block
    assert 'action 0x7fc' not in block, 'no ioctl reaches the supervisor'


@pytest.mark.parametrize('values', [(5,), (0x5421, 0x5450, 0x5451), (1, 2, 3, 100, 1 << 40)])
def test_complement_tests_match_every_value_but_the_given_ones(values):
    import pyseccomp

    def matches(value):
        for op, mask, operand in sp.complement_tests(values):
            if (op == pyseccomp.LT and value < operand) or \
                    (op == pyseccomp.GT and value > operand) or \
                    (op == pyseccomp.MASKED_EQ and value & mask == operand):
                return True
        return False
    probes = set(values) | {0, (1 << 64) - 1, 1 << 32} | {
        v + d for v in values for d in (-2, -1, 1, 2, 1 << 32) if 0 <= v + d < 1 << 64}
    probes |= set(range(min(values), min(max(values), min(values) + 200) + 1))
    for value in probes:
        assert matches(value) != (value in values), hex(value)


def test_mmap_exec_rules_differ_between_static_and_python():
    static = pfc(sp.STATIC_POLICY)
    python = pfc(sp.PYTHON_POLICY)
    static_mmap = static[static.index('"mmap"'):].split('# filter for syscall')[0]
    python_mmap = python[python.index('"mmap"'):].split('# filter for syscall')[0]
    assert '$a2.lo32 & 0x00000004 == 0' in static_mmap     # PROT_EXEC must be clear
    assert '$a3' not in static_mmap                         # no file-backed exception
    assert '$a3.lo32 & 0x00000020 == 0' in python_mmap     # file-backed may be executable


def test_personality_only_query_and_prlimit_only_get():
    text = pfc(sp.STATIC_POLICY)
    block = text[text.index('"personality"'):].split('# filter for syscall')[0]
    assert '0xffffffff' in block
    block = text[text.index('"prlimit64"'):].split('# filter for syscall')[0]
    assert '== 0' in block


def test_python_policy_is_a_superset_no_wider_than_declared():
    assert set(sp.STATIC_POLICY.allow) <= set(sp.PYTHON_POLICY.allow)
    extra = set(sp.PYTHON_POLICY.allow) - set(sp.STATIC_POLICY.allow)
    assert extra == set(sp.PYTHON_EXTRA_ALLOW) - set(sp.STATIC_ALLOW)
    assert not extra & {'socket', 'execve', 'memfd_create', 'ptrace', 'mount'}


def test_bpf_is_compiled_bytes_of_whole_instructions():
    programs = sp.compile_all()
    assert set(programs) == {'static', 'python'}
    for bpf in programs.values():
        assert isinstance(bpf, bytes) and len(bpf) % 8 == 0 and 40 < len(bpf) // 8 < 4096
    assert sp.compile_bpf(sp.STATIC_POLICY) == programs['static']   # deterministic


def test_syscall_names():
    assert sp.syscall_name(41) == 'socket'
    assert sp.syscall_name(425) == 'io_uring_setup'
    assert sp.syscall_name(99999).startswith('#')


def make_spec():
    return SessionSpec(
        program='file://python:python', argv=['python', '/dev/script'],
        env={'LOCAL_PATH_INFO': '/a/c/o'},
        channels=[ChannelSpec('stdin', 'r', 'file'), ChannelSpec('stdout', 'w', 'pipe'),
                  ChannelSpec('out/reduce', 'w', 'socket'), ChannelSpec('output', 'rw')],
        images=[ImageSpec('python'), ImageSpec('tools', '/srv/tools.tar', '/opt/tools')],
        limits=Limits(wall_seconds=2.5, memory_bytes=1 << 28))


def test_spec_json_round_trip():
    spec = make_spec()
    again = SessionSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.channels[2].network is True and again.channels[0].network is False
    assert again.image_program == ('python', 'python')


@pytest.mark.parametrize('change,field', [
    ({'program': ''}, 'program'),
    ({'program': 'file://nocolon'}, 'program'),
    ({'argv': 'notalist'}, 'argv'),
    ({'env': {'A=B': 'x'}}, 'env'),
    ({'limits': {'wall_seconds': -1}}, 'limits.wall_seconds'),
    ({'limits': {'memory_bytes': 1.5}}, 'limits.memory_bytes'),
    ({'limits': {'bogus': 1}}, 'bogus'),
    ({'channels': [{'device': 'etc/passwd'}]}, 'channel.device'),
    ({'channels': [{'device': 'stdin', 'access': 'x'}]}, 'access'),
    ({'channels': [{'device': 'stdout', 'kind': 'pipe', 'access': 'rw'}]}, 'rw'),
    ({'channels': [{'device': 'stdin'}, {'device': 'stdin'}]}, 'duplicate'),
    ({'images': [{'name': 'x', 'mount_point': '/dev/x'}]}, 'mount_point'),
    ({'images': [{'name': '../x'}]}, 'image.name'),
    ({'trusted': 'yes'}, 'trusted'),
])
def test_bad_specs_name_the_field(change, field):
    data = make_spec().to_dict()
    data.update(change)
    with pytest.raises(SpecError) as info:
        SessionSpec.from_dict(data)
    assert field in str(info.value)


@pytest.mark.parametrize('policy', [sp.STATIC_POLICY, sp.PYTHON_POLICY], ids=lambda p: p.name)
@pytest.mark.parametrize('syscall', ['exit', 'exit_group'])
def test_exit_goes_to_the_supervisor_to_read_pending_signals_first(policy, syscall):
    """A write refused at the output limit leaves SIGXFSZ pending, and exiting discards it:
    the supervisor must see the exit before it happens."""
    assert syscall in policy.supervised and syscall not in policy.allow
    assert action_of(pfc(policy), syscall) is None
