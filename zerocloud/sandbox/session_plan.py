"""What a session's jail is given: its plan (binds, FIFOs, standard channels, argv, env,
rlimits), the in-memory copy of its program, and the watch that sees its outbound FIFOs
closed.  Used by :mod:`.starting` (the set-up steps); the jail side is :mod:`.jail`.
"""
import os
import resource

from zerocloud.sandbox import jail, linux, warm
from zerocloud.sandbox.spec import STD_DEVICES

STD_FD = {'stdin': 0, 'stdout': 1, 'stderr': 2}


def executable_copy(fd, cleanup):
    """A world-executable in-memory copy (the jail's root is "nobody" outside)."""
    copy = os.memfd_create('program', os.MFD_CLOEXEC)
    cleanup.callback(os.close, copy)
    os.lseek(fd, 0, os.SEEK_SET)
    while os.sendfile(copy, fd, None, 1 << 24):
        pass
    os.fchmod(copy, 0o555)
    return copy


def watch_writer_closes(sys, pid, pumps, cleanup):
    """An inotify watch (``IN_CLOSE_WRITE``) on every FIFO pumped into a socket (the
    ``/dev/out/<peer>`` streams of connected jobs, whose peers need end-of-file when the
    program closes them), set before the program runs: ``(inotify fd, {watch descriptor:
    pump})``, or None without any.  Pipes to the client are left alone: their reader
    gets end-of-file when the session ends."""
    outbound = [pump for pump in pumps if pump.to_socket]
    if not outbound:
        return None
    fd = sys.inotify_init1(linux.IN_NONBLOCK | linux.IN_CLOEXEC)
    cleanup.callback(os.close, fd)
    watches = {}
    for pump in outbound:
        path = '/proc/%d/root/dev/%s' % (pid, pump.channel.device)
        watches[sys.inotify_add_watch(fd, path, linux.IN_CLOSE_WRITE)] = pump
    return fd, watches


def jail_plan(spec, program, exec_fd, fds, file_binds, image_binds, symlinks, masks):
    """The JailPlan (without filter and sync fds) and the list of (channel, fd) to pump."""
    mounted, fifos, std_opens, pumped = [], [], [], []
    for index, (channel, fd) in enumerate(zip(spec.channels, fds)):
        path = '/dev/' + channel.device
        original = None
        if index in file_binds:
            mounted.append(file_binds[index])
            flags = {'r': os.O_RDONLY, 'w': os.O_WRONLY, 'rw': os.O_RDWR}[channel.access]
            original = fd
        else:
            fifos.append(path)
            pumped.append((channel, fd))
            flags = os.O_RDONLY if channel.readable else os.O_WRONLY
        if channel.device in STD_DEVICES:
            std_opens.append((STD_FD[channel.device], path, flags, original))
    mounted.extend(image_binds)
    argv = list(spec.argv) or [os.path.basename(spec.program.split(':')[-1])]
    argv[1:1] = program.interpreter_args
    env = list(spec.env)
    if program.policy == 'python':
        env = [(k, v) for k, v in env if not k.startswith('PYTHON')] + [('PYTHONHASHSEED', '0')]
    plan = jail.JailPlan(
        binds=tuple(mounted), fifos=tuple(fifos), symlinks=tuple(symlinks), masks=tuple(masks),
        std_opens=tuple(std_opens), exec_fd=exec_fd, argv=tuple(argv),
        env=tuple('%s=%s' % pair for pair in env), bpf=b'',
        rlimits=rlimits(spec.limits, len(spec.channels)),
        outside_uid=os.geteuid(), outside_gid=os.getegid(), from_parent=warm.CHILD_FROM_PARENT,
        to_parent=warm.CHILD_TO_PARENT)
    return plan, pumped


def rlimits(limits, channel_count):
    """The session's rlimits.  ``max_open_files`` counts the program's own descriptors on top
    of one per channel (a reducer may open every ``/dev/in/*`` at once), plus stdio."""
    cpu = max(1, int(-(-limits.cpu_seconds // 1)))
    nofile = limits.max_open_files + channel_count + 3
    return ((resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            (resource.RLIMIT_CPU, cpu, cpu + 1),
            (resource.RLIMIT_FSIZE, limits.max_output_bytes, limits.max_output_bytes),
            (resource.RLIMIT_NOFILE, nofile, nofile),
            (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
            (resource.RLIMIT_CORE, 0, 0))
