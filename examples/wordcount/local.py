"""Run the word-count map-reduce on this machine, without Swift.

The same topology as ``job.json`` on the cluster: one mapper per input file (``map-1..M``),
``R`` reducers (``reduce-1..R``) and one ``merge``; every mapper -> reducer and reducer -> merge
edge is a FIFO, all instances start at once and stream to each other, and the top words are
printed as ``word<TAB>count`` lines.

    python3 local.py [--lang python|c] [--reducers 3] [--top 10] [--timeout 120]
                     [--direct] [--work DIR] [--zerocloud CMD] [--cc gcc|musl-gcc]
                     [--table FILE] FILE...

Sandbox mode (default) runs every instance with ``zerocloud run`` (the local sandbox, same
jail as on the cluster): the object is ``--stdin``, each edge ``--in SRC=FIFO`` /
``--out DST=FIFO``, the merge's full table ``--output``.  ``--direct`` runs the very same
programs as plain processes: ``ZEROCLOUD_DEV_ROOT`` points each one at a directory that
mimics its ``/dev`` (``in/``, ``out/``, ``output`` symlinks to the FIFOs and files) - the
baseline for ``bench/mapreduce.py``.  Either way every program also gets
``ZEROCLOUD_INSTANCE=<instance name>``.

If an instance fails (non-zero exit, sandbox status other than ``ok``) or the timeout passes,
every other instance is killed and the error names the instance with the tail of its stderr.
``--lang c`` compiles ``c/*.c`` with ``gcc -static -O2`` (``--cc musl-gcc`` for musl) into
the work directory.

From Python: ``run_wordcount(files, lang='python', reducers=3, top=10, direct=False,
timeout=120, work_dir=None, zerocloud=None, cc='gcc') -> Result`` (``top``, ``table``,
``seconds``); raises ``WordCountError``.
"""
import argparse
import dataclasses
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROLES = ('mapper', 'reducer', 'merge')
PYTHON_IMAGE_EXEC = 'file://python:python'
STDERR_TAIL_BYTES = 2000


class WordCountError(Exception):
    """The local run failed; the message says which instance and why."""


@dataclasses.dataclass(frozen=True)
class Instance:
    """One session of the job: its name, program role, channels and data files."""
    name: str
    role: str
    inputs: tuple = ()   # names of the source instances (/dev/in/<src>)
    outputs: tuple = ()  # names of the destination instances (/dev/out/<dst>)
    stdin: str = None    # the object a mapper counts
    args: tuple = ()


@dataclasses.dataclass(frozen=True)
class Result:
    """What a run produced: the top words, the merge's full table, the wall time."""
    top: list       # [(word bytes, count)] by decreasing count
    table: dict     # {word bytes: count}
    seconds: float


def plan(files, reducers, top):
    """The job's instances, in the order ``job.json`` would name them."""
    mappers = ['map-%d' % i for i in range(1, len(files) + 1)]
    reducer_names = ['reduce-%d' % i for i in range(1, reducers + 1)]
    instances = [Instance(name, 'mapper', outputs=tuple(reducer_names), stdin=path)
                 for name, path in zip(mappers, files)]
    instances += [Instance(name, 'reducer', inputs=tuple(mappers), outputs=('merge',))
                  for name in reducer_names]
    instances.append(Instance('merge', 'merge', inputs=tuple(reducer_names),
                              args=(str(top),)))
    return instances


def fifo_path(work_dir, source, destination):
    """Where the FIFO of the edge ``source -> destination`` lives."""
    return os.path.join(work_dir, 'channels', '%s--%s' % (source, destination))


def make_channels(work_dir, instances):
    """Create one FIFO per edge and the merge's (empty) table and top files."""
    os.makedirs(os.path.join(work_dir, 'channels'))
    for instance in instances:
        for destination in instance.outputs:
            os.mkfifo(fifo_path(work_dir, instance.name, destination))
    for name in ('table.tsv', 'top.tsv'):
        open(os.path.join(work_dir, name), 'wb').close()


def make_dev_root(work_dir, instance):
    """Build ``dev/<instance>/`` for direct mode: symlinks standing for ``/dev`` entries."""
    root = os.path.join(work_dir, 'dev', instance.name)
    for kind, peers in (('in', instance.inputs), ('out', instance.outputs)):
        if peers:
            os.makedirs(os.path.join(root, kind))
        for peer in peers:
            edge = (peer, instance.name) if kind == 'in' else (instance.name, peer)
            os.symlink(fifo_path(work_dir, *edge), os.path.join(root, kind, peer))
    os.makedirs(root, exist_ok=True)
    if instance.role == 'merge':
        os.symlink(os.path.join(work_dir, 'table.tsv'), os.path.join(root, 'output'))
    return root


def build_c_programs(out_dir, cc='gcc'):
    """Compile the C samples statically with ``cc`` into ``out_dir``; ``{role: path}``."""
    compiler = shutil.which(cc)
    if compiler is None:
        raise WordCountError('%s not found: install gcc, libc6-dev (and musl-tools for '
                             'musl-gcc) to build the C samples' % cc)
    os.makedirs(out_dir, exist_ok=True)
    programs = {}
    for role in ROLES:
        target = os.path.join(out_dir, role)
        source = os.path.join(HERE, 'c', role + '.c')
        done = subprocess.run([compiler, '-static', '-O2', '-o', target, source],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise WordCountError('cannot compile %s:\n%s' % (source, done.stderr))
        programs[role] = target
    return programs


class Launcher:
    """Turns an instance into a command line, in direct or sandbox mode."""

    def __init__(self, work_dir, lang, direct, zerocloud, timeout, cc='gcc'):
        self.work_dir = work_dir
        self.lang = lang
        self.direct = direct
        self.zerocloud = zerocloud or [sys.executable, '-m', 'zerocloud', 'run']
        self.timeout = timeout
        self.c_programs = build_c_programs(os.path.join(work_dir, 'bin'), cc) \
            if lang == 'c' else None
        self.name_option = not direct and self._sandbox_has_option('--name')

    def _sandbox_has_option(self, option):
        """True when ``zerocloud run --help`` lists ``option`` (argv[0] can be set)."""
        try:
            shown = subprocess.run(self.zerocloud + ['--help'], capture_output=True,
                                   text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WordCountError('cannot run %s --help: %s'
                                 % (shlex.join(self.zerocloud), exc))
        return option in shown.stdout

    def program(self, instance):
        """The program's own argv: ``[executable, args...]`` as seen outside or in the jail."""
        if self.lang == 'c':
            return [self.c_programs[instance.role]] + list(instance.args)
        script = os.path.join(HERE, 'python', instance.role + '.py')
        if self.direct:
            return [sys.executable, script] + list(instance.args)
        return [PYTHON_IMAGE_EXEC, '/dev/script'] + list(instance.args)

    def stderr_path(self, instance):
        """Where the program's standard error is kept."""
        return os.path.join(self.work_dir, instance.name + '.stderr')

    def report_path(self, instance):
        """Where ``zerocloud run`` writes the session report (sandbox mode)."""
        return os.path.join(self.work_dir, instance.name + '.report.json')

    def command(self, instance):
        """``(argv, env, stdin path or None, stdout path)`` to start ``instance``."""
        env = dict(os.environ, ZEROCLOUD_INSTANCE=instance.name)
        stdout = os.path.join(self.work_dir, 'top.tsv' if instance.role == 'merge'
                              else instance.name + '.stdout')
        if self.direct:
            env['ZEROCLOUD_DEV_ROOT'] = make_dev_root(self.work_dir, instance)
            return self.program(instance), env, instance.stdin, stdout
        argv = self.zerocloud + ['--timeout', '%g' % self.timeout,
                                 '--report', self.report_path(instance),
                                 '--stderr', self.stderr_path(instance),
                                 '--stdout', stdout,
                                 '--env', 'ZEROCLOUD_INSTANCE=' + instance.name]
        if self.name_option:
            argv += ['--name', instance.name]
        if instance.stdin:
            argv += ['--stdin', instance.stdin]
        argv += [arg for src in instance.inputs
                 for arg in ('--in', '%s=%s' % (src, fifo_path(self.work_dir, src,
                                                                instance.name)))]
        argv += [arg for dst in instance.outputs
                 for arg in ('--out', '%s=%s' % (dst, fifo_path(self.work_dir,
                                                                instance.name, dst)))]
        if instance.role == 'merge':
            argv += ['--output', os.path.join(self.work_dir, 'table.tsv')]
        if self.lang == 'python':
            argv += ['--script', os.path.join(HERE, 'python', instance.role + '.py')]
        return argv + ['--'] + self.program(instance), env, None, None

    def failure(self, instance, returncode):
        """Why ``instance`` failed (a sentence), or None when it succeeded."""
        if not self.direct and os.path.exists(self.report_path(instance)):
            try:
                with open(self.report_path(instance)) as f:
                    report = json.load(f)
            except (OSError, ValueError) as exc:
                return 'unreadable session report: %s' % exc
            if report.get('status') != 'ok':
                return 'sandbox status %s: %s' % (report.get('status'), report.get('reason'))
            if report.get('retcode') not in (0, None):
                return 'program exited with status %s' % report.get('retcode')
        if returncode != 0:
            return 'exited with status %d' % returncode
        return None

    def stderr_tail(self, instance):
        """The end of everything ``instance`` wrote to standard error."""
        text = b''
        for path in (self.stderr_path(instance), self.stderr_path(instance) + '.launcher'):
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    text += f.read()[-STDERR_TAIL_BYTES:]
        return text.decode('utf-8', 'replace').strip()


def start_all(launcher, instances):
    """Start every instance; return ``{name: Popen}`` and a queue fed with finished names."""
    finished = queue.Queue()
    processes = {}
    for instance in instances:
        argv, env, stdin_path, stdout_path = launcher.command(instance)
        err_path = launcher.stderr_path(instance) + ('' if launcher.direct else '.launcher')
        with open(stdin_path or os.devnull, 'rb') as stdin, \
                open(stdout_path or os.devnull, 'wb') as stdout, \
                open(err_path, 'wb') as stderr:
            try:
                process = subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout,
                                           stderr=stderr)
            except OSError as exc:
                stop_all(processes)
                raise WordCountError('%s: cannot start %s: %s' % (instance.name, argv[0], exc))
        processes[instance.name] = process
        threading.Thread(target=lambda p=process, n=instance.name: finished.put((n, p.wait())),
                         daemon=True).start()
    return processes, finished


def stop_all(processes):
    """Kill and reap every process of this run that is still running."""
    for process in processes.values():
        if process.poll() is None:
            process.kill()
    for process in processes.values():
        process.wait()


def wait_all(launcher, instances, processes, finished, timeout):
    """Wait for every instance; on the first failure or at the deadline, stop them all."""
    by_name = {instance.name: instance for instance in instances}
    deadline = time.monotonic() + timeout
    remaining = set(processes)
    while remaining:
        try:
            name, returncode = finished.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop_all(processes)
            raise WordCountError('timed out after %gs; still running: %s'
                                 % (timeout, ', '.join(sorted(remaining))))
        remaining.discard(name)
        why = launcher.failure(by_name[name], returncode)
        if why:
            stop_all(processes)
            raise WordCountError('%s failed: %s\n%s' % (name, why,
                                                        launcher.stderr_tail(by_name[name])))


def read_table(path):
    """Parse a ``word<TAB>count`` file into a dict."""
    table = {}
    with open(path, 'rb') as f:
        for line in f:
            word, _tab, count = line.rstrip(b'\n').partition(b'\t')
            table[word] = int(count)
    return table


def run_wordcount(files, lang='python', reducers=3, top=10, direct=False, timeout=120,
                  work_dir=None, zerocloud=None, cc='gcc'):
    """Run the whole map-reduce over ``files``; return a :class:`Result`."""
    if lang not in ('python', 'c'):
        raise WordCountError('lang must be "python" or "c", got %r' % (lang,))
    if not files or reducers < 1 or top < 1:
        raise WordCountError('need at least one file, one reducer and top >= 1')
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise WordCountError('not a readable file: %s' % ', '.join(missing))
    with tempfile.TemporaryDirectory(prefix='wordcount-') as scratch:
        work_dir = os.path.abspath(work_dir or scratch)
        os.makedirs(work_dir, exist_ok=True)
        instances = plan([os.path.abspath(path) for path in files], reducers, top)
        make_channels(work_dir, instances)
        launcher = Launcher(work_dir, lang, direct, zerocloud, timeout, cc)
        started = time.monotonic()
        processes, finished = start_all(launcher, instances)
        try:
            wait_all(launcher, instances, processes, finished, timeout)
        finally:
            stop_all(processes)  # also on KeyboardInterrupt or SIGTERM: leave nothing behind
        seconds = time.monotonic() - started
        top_pairs = list(read_table(os.path.join(work_dir, 'top.tsv')).items())
        table = read_table(os.path.join(work_dir, 'table.tsv'))
    return Result(top=top_pairs, table=table, seconds=seconds)


def main(argv=None):
    """Command line: run the job and print the top words."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('files', nargs='+', help='the objects: one mapper per file')
    parser.add_argument('--lang', choices=('python', 'c'), default='python')
    parser.add_argument('--reducers', type=int, default=3, help='how many reducers (3)')
    parser.add_argument('--top', type=int, default=10, help='how many words to print (10)')
    parser.add_argument('--timeout', type=float, default=120, help='seconds (120)')
    parser.add_argument('--direct', action='store_true',
                        help='run the programs as plain processes, without the sandbox')
    parser.add_argument('--work', help='keep channels, logs and reports in this directory '
                        '(must not hold an earlier run)')
    parser.add_argument('--zerocloud', type=shlex.split,
                        help='the sandbox command (default: "%s -m zerocloud run")'
                        % sys.executable)
    parser.add_argument('--cc', default='gcc',
                        help='C compiler for --lang c: gcc (glibc) or musl-gcc (gcc)')
    parser.add_argument('--table', help='also write the full word<TAB>count table here')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        result = run_wordcount(args.files, args.lang, args.reducers, args.top, args.direct,
                               args.timeout, args.work, args.zerocloud, args.cc)
    except (WordCountError, OSError) as exc:
        sys.stderr.write('local.py: %s\n' % exc)
        return 1
    sys.stdout.buffer.write(b''.join(b'%s\t%d\n' % pair for pair in result.top))
    if args.table:
        with open(args.table, 'wb') as f:
            f.write(b''.join(b'%s\t%d\n' % (w, result.table[w]) for w in sorted(result.table)))
    sys.stderr.write('local.py: %d words, %d distinct, %.3fs (%s, %s)\n'
                     % (sum(result.table.values()), len(result.table), result.seconds,
                        args.lang, 'direct' if args.direct else 'sandbox'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
