"""zerocloud object middleware: run one sandbox session next to its object.

Operator manual
===============

Purpose
-------
Receives the sessions that the zerocloud proxy middleware dispatches (backend ``EXECUTE``
requests marked with ``X-Backend-Zerocloud-Version``, see :mod:`zerocloud.wire`), opens the
co-located object's data file read-only and gives its file descriptor to the sandbox (the
object's bytes never cross the network), runs the program through the sandbox supervisor and
streams its outputs and its report back.  Every other request passes through untouched.

Pipeline position
-----------------
Just before the object server application::

    [pipeline:main]
    pipeline = healthcheck recon zerocloud object-server

    [filter:zerocloud]
    use = egg:zerocloud#object_middleware
    zerovm_sysimage_devices = python /usr/lib/zerocloud/images/python

Sessions
--------
A session's request (wire version 2; any other version is a ``400``) carries its description,
validated field by field (an unknown or ill-typed field is a ``400`` naming it, e.g.
``bad session: session.devices[1].access: must be one of read, write``), the executable
unless cached here by ETag, and the inputs this server cannot read locally.  The executable
and the inputs are spooled to files in ``zerovm_work_dir`` while they arrive (never held in
memory); a cacheable executable is then kept in the executable cache, so the next run of the
same ETag does not send it.  Every refusal comes before the session starts, with its own
status: ``503`` busy, ``400`` a bad body, ``413`` an executable over ``zerovm_maxnexe`` or
an input over its limit, ``409`` (``X-Backend-Zerocloud-Need``) an executable or input
neither sent nor cached, ``404`` no local copy of the object (the proxy tries the next
replica), ``409``/``507`` below.

User images (zapps)
-------------------
A session with a user image (a POSTed zapp, or the job's ``image`` device) receives the tar
in an ``image`` frame unless it is cached here by ETag (else ``409``, ``Need: image``).
Each ETag is unpacked once, refusing hostile members (``400`` naming the member: ``..``,
absolute names, links out of the tree, device nodes, FIFOs), into the image cache
(``zerovm_image_cache_bytes``), and shown read-only at ``/`` in the jail, system images at
their own places.  A ``file://<path>`` program is looked for in the user image, then in the
system images; none has it: ``404`` naming it (:mod:`.images`).

Heartbeats and hang-ups
-----------------------
Once admitted and prepared, the answer is ``200`` at once and the program runs while the
body sends an empty ``wait`` frame at least every 0.5 s (``zerocloud.wire.HEARTBEAT_SECONDS``),
so the proxy's ``node_timeout`` never fires for a long session; then come the outputs, the
report and ``end``.  If the proxy hangs up (a heartbeat cannot be written), the session is
stopped at once: the program is killed, the channels of a connected job are shut, the spools
are removed and the slot is freed.

Sandbox supervisor lost
-----------------------
Programs run through a sandbox supervisor, a separate process started (fork+exec, never a
fork of the server) on the first session and stopped when the server exits.  If it is lost
before it took a session, a new one is started and the session tried once more; if that
fails too, the session's report is an ``error`` with ``retry`` set: the program never ran,
and the proxy may run it on another server.  If it is lost while the program runs, the
report is an ``error`` whose reason says ``sandbox supervisor lost`` (never run twice here).
Every failed session has a non-``ok`` status and a reason.

Concurrency
-----------
At most ``zerovm_maxpool`` sessions run at once per object server process; up to
``zerovm_maxqueue`` more wait; beyond that the answer is ``503`` with a message, and the proxy
tries another replica.

Connected jobs
--------------
A session of a connected job (header ``X-Backend-Zerocloud-Connected: 1``) is admitted only
if a slot is free now (never queued: 503 otherwise, so the proxy places it elsewhere or
fails the whole job).  Once admitted (and answered ``200``, heartbeats flowing) it opens a
TCP listener on ``zerovm_channel_ip`` and an abstract Unix socket, registers both with the
proxy's rendezvous, connects its outgoing channels and accepts its incoming ones
(:mod:`.mesh`), and only then starts the program with the sockets as ``/dev/out/<dst>`` and
``/dev/in/<src>``.  A channel between two sessions on the same host (same kernel and network
namespace, whichever server process runs them) is a Unix stream connection, one between
hosts TCP; the log line ``zerocloud: <instance> channels wired: <n> unix, <m> tcp`` says
which.  A cancel from the
proxy (or the proxy hanging up) shuts the channels down; a session still waiting for its
peers ends at the registration deadline.

Spooled shuffles (connected jobs in waves)
------------------------------------------
A session whose description has a ``shuffle`` (:mod:`zerocloud.shuffle`; a connected job the
proxy runs in waves) is an ordinary, queued session.  Its ``/dev/out/<dst>`` are files in
``<zerovm_work_dir>/shuffle/<job token>/`` (shared by this server's processes), published
under their names only when the program exited 0; its ``/dev/in/<src>`` are the spools of
its producers, read from this server's disk or fetched from theirs before the program
starts (a missing or unreachable spool fails the session naming it).  Both are bound in the
jail as files (counted as local bytes in the CDR).  The log line ``zerocloud: <instance>
shuffle: <n> input(s), <f> fetched (<bytes> bytes), <bytes> bytes spooled`` says how much
moved.  Other servers fetch spools with ``POST /shuffle/<token>`` (the names in the body,
the spools as frames in the answer: one request per server and consumer) and the proxy
removes a job's with ``DELETE /shuffle/<token>`` (backend requests marked
``X-Backend-Zerocloud-Shuffle``, :mod:`.shuffle_transfer`); job directories older than a
day are swept (a proxy that died mid-job).  The inputs are gathered within
``zerovm_timeout``, before the program's own ``zerovm_timeout`` starts.

Limits
------
A session runs with the smaller of what the proxy asks for (the session's ``limits``) and
this server's options: wall-clock time (``zerovm_timeout``), bytes per readable channel
(``zerovm_maxinput``) and per writable channel (``zerovm_maxoutput``).  A co-located
object whose data file is not its bytes (a static or dynamic large object's manifest, a
fragment of an erasure-coded policy, an encrypted object) is answered ``409`` with
``X-Backend-Zerocloud-Need: object``: the proxy sends its bytes instead, as its own GET
gives them.  An unmounted device is ``507``.  A session that ends while the filesystem of
``zerovm_work_dir`` (where its outputs are spooled) has less than 1 MiB free fails with
"no space left for outputs": its program may have lost writes to ENOSPC and still exited 0,
and a cut output must not be published.

Options (``[filter:zerocloud]``; defaults in brackets)
------------------------------------------------------
``zerovm_maxnexe`` [256M]
    Largest executable accepted, in bytes.
``zerovm_maxnexemem`` [4G]
    Address-space limit of a session.
``zerovm_timeout`` [10]
    Wall-clock (and CPU) seconds a session may run before it is killed, at most.
``zerovm_maxpool`` [10] / ``zerovm_maxqueue`` [3]
    Sessions running / waiting per server process.
``zerovm_maxinput`` / ``zerovm_maxoutput`` [1G / 1G]
    Bytes per readable / writable channel, at most.
``zerovm_sysimage_devices`` [python]
    System images: ``name /host/path`` pairs (read-only in the jail); ``python`` without a
    path is the sandbox's built-in image of the host's CPython.
``zerovm_debug`` [no]
    Log every session's description and report.
``zerovm_work_dir`` [/var/cache/zerocloud, or $TMPDIR/zerocloud-<uid> where that cannot be made]
    Absolute base directory (mode 0700, owned by the server's user; anything else is
    refused) for the supervisor socket, the spools of running sessions and the caches: one
    directory per server process, removed when that process stops or dies (also after
    ``kill -9``), leftovers of a crashed machine swept at the next start
    (:mod:`zerocloud.object_middleware.workdir`).
``zerovm_executable_cache_entries`` [64]
    Executables kept by ETag so repeated runs do not transfer them again.
``zerovm_channel_ip`` [``bind_ip`` when it names one address, else 127.0.0.1]
    Address the channel listeners of connected sessions use; peers on other servers must
    reach it.
``zerovm_input_cache_entries`` [8]
    Remote input objects (readable objects stored on other servers) kept by ETag, so that
    the sessions of a job (and later jobs) on this server receive each one once.
``zerovm_image_cache_bytes`` [4G]
    Bytes of unpacked user images (zapps) kept by ETag in ``<zerovm_work_dir>/images``,
    shared by the server processes of the machine and kept across restarts; also the
    largest unpacked image.  The least recently used image not in use is evicted first;
    when the images in use leave no room, a session is refused with 503.
``zerovm_shuffle_max_bytes`` [0]
    Bytes the spooled shuffles of connected jobs run in waves may hold on this server, all
    jobs together (0: no bound but ``zerovm_maxoutput`` per channel and the free space).
    A producer that would go over it fails, naming the option; its job publishes nothing.
``zerovm_prevalidate`` [no]
    Validate executables when they are stored and record the verdict (see Prevalidation).
``zerovm_python_prestart`` [0]
    Pre-started python jails the sandbox keeps per server process (0 disables): their
    interpreter is already running, the ``zerovm_python_preimports`` imported, waiting for
    one session of the ``python`` image (:mod:`zerocloud.sandbox.prestart`: which sessions
    use one, what the program sees, the security review).  Each costs ~25 MB of memory
    while it waits and ~60 ms of CPU to make, off the sessions' path: they are made only
    once the sandbox has been idle for 0.1 s, so under sustained load sessions start
    their interpreter normally instead of competing with the refills.
``zerovm_python_preimports`` [os,re,json,collections,itertools,functools,math,string,...]
    Comma list of the stdlib modules a pre-started interpreter imports (default: the 20 of
    ``zerocloud.sandbox.prestart.DEFAULT_IMPORTS``, as in the sample config).

Open files
----------
A session may have up to 4096 channels (``zerocloud.wire.MAX_SESSION_CHANNELS``, the
proxy's ``max_session_channels`` in ``/info``).  While it runs, this server holds one socket
or file per channel and the sandbox supervisor about two descriptors per channel.  At
start-up the filter lifts the server's soft ``RLIMIT_NOFILE`` to its hard limit (logged as
``open files limit``; the supervisor inherits it); give the servers a hard limit of at least
``zerovm_maxpool`` x (2 x 4096 + 64) (systemd ``LimitNOFILE=``, ``ulimit -Hn``) to run a
full pool of the largest sessions.  Below that, a session that finds no descriptor left
fails with its reason (``Too many open files``); the others go on.

Prevalidation
-------------
With ``zerovm_prevalidate = yes``, an object stored by a ``PUT`` with Content-Type
``application/x-nexe`` or the header ``X-Zerovm-Validate`` (or a ``POST`` to such an object)
is validated by each object server that stores a replica, before it answers, with the code a
session uses; the verdict is recorded in object sysmeta bound to the ETag
(``X-Object-Sysmeta-Zerocloud-Valid: <etag>:valid|rejected``, in a ``.meta`` file that keeps
the user metadata).  A proxy with the same option trusts a valid record whose ETag is the
object's and tells the session, which then runs the executable without validating it again
(``X-Nexe-Validation: 2``).  Details and the reasons it cannot be forged:
:mod:`zerocloud.object_middleware.prevalidate`.

A bad value stops the object server at start-up with a ``ValueError`` naming the option;
so does ZeroCloud's ``zerovm_kill_timeout`` (sessions are killed at once at their timeout),
which this version does not implement.
"""
import os
import socket

from swift.common import swob
from swift.common.utils import get_logger

from zerocloud import metrics, shuffle as shufflelib, wire
from zerocloud.object_middleware.admission import Admission
from zerocloud.object_middleware.config import ObjectConfig
from zerocloud.object_middleware.etag_cache import EtagCache
from zerocloud.object_middleware.execute import ExecuteRequest
from zerocloud.object_middleware.images import UserImages
from zerocloud.object_middleware import shuffle_spool, shuffle_transfer
from zerocloud.object_middleware.runner import raise_open_files_limit
from zerocloud.object_middleware.workdir import WorkDir, WorkDirError, checked_base, default_base


SHUFFLE_ENV = 'HTTP_' + shufflelib.FETCH_HEADER.upper().replace('-', '_')


class ZerocloudObject:
    """The object filter: configuration, admission, caches; one :class:`ExecuteRequest` per
    request.

    :param runner: ``(session, executable_path, fds, config) -> Report`` running one session
        (``session`` a :class:`zerocloud.wire.Session`, ``fds`` ``{device: fd}``), raising
        :class:`.runner.NotStarted` when the program could not start here; cancelled by
        killing the green thread that calls it.  Default: the sandbox supervisor
        (:class:`.runner.SandboxRunner`); injectable for tests.
    :param local_objects: opener of local objects (default: DiskFile, see :mod:`.local_object`).
    """

    def __init__(self, app, config, logger, conf, runner=None, local_objects=None):
        self.app = app
        self.config = config
        self.logger = logger
        self.conf = conf
        self.admission = Admission(config.max_pool, config.max_queue)
        self.node_name = '%s:%s' % (conf.get('bind_ip', socket.gethostname()),
                                    conf.get('bind_port', ''))
        self.workdir = WorkDir(config.work_dir, logger)
        self._caches = None
        self.images = UserImages(config, logger, self.work_dir)
        self.spool_usage = shuffle_spool.SpoolUsage(config.shuffle_max_bytes)
        self._runner = runner
        self._local_objects = local_objects
        self._prevalidator = None

    def work_dir(self):
        """This process's directory for sockets, spools and caches (made on first use;
        removed when the process is gone, see :mod:`.workdir`)."""
        return self.workdir.path()

    @property
    def executables(self):
        return self._etag_caches()[0]

    @property
    def inputs(self):
        return self._etag_caches()[1]

    def _etag_caches(self):
        """The executable and input caches of this process's work directory."""
        work_dir = self.work_dir()
        if self._caches is None or self._caches[0].directory != os.path.join(
                work_dir, 'executables'):
            self._caches = (
                EtagCache(os.path.join(work_dir, 'executables'),
                          self.config.executable_cache_entries),
                EtagCache(os.path.join(work_dir, 'inputs'), self.config.input_cache_entries))
        return self._caches

    @property
    def runner(self):
        if self._runner is None:
            from zerocloud.object_middleware.runner import SandboxRunner
            self._runner = SandboxRunner(self.work_dir(), self.logger,
                                         self.config.supervisor_options())
        return self._runner

    @property
    def local_objects(self):
        if self._local_objects is None:
            from zerocloud.object_middleware.local_object import LocalObjects
            self._local_objects = LocalObjects(self.conf, self.logger)
        return self._local_objects

    def __call__(self, env, start_response):
        if SHUFFLE_ENV in env:
            return shuffle_transfer.serve(swob.Request(env), self.workdir.shared_dir(
                shufflelib.SPOOL_DIR))(env, start_response)
        if env.get('REQUEST_METHOD') != wire.EXECUTE_METHOD or \
                'HTTP_' + wire.VERSION_HEADER.upper().replace('-', '_') not in env:
            return self.pass_through(env, start_response)
        req = swob.Request(env)
        try:
            response = self.execute(req)
        except swob.HTTPException as error:
            response = error
            if wire.BUSY_HEADER in error.headers:
                metrics.admission_rejected(self.logger)
        except Exception:  # our own fault: log it, answer 500 without a traceback
            self.logger.exception('zerocloud: session %s failed', req.path)
            response = swob.HTTPInternalServerError(body='zerocloud: internal error\n')
        return response(env, start_response)

    def pass_through(self, env, start_response):
        """Not a session: to the object server (stored executables prevalidated when on)."""
        if self.prevalidator is not None and self.prevalidator.handles(swob.Request(env)):
            return self.prevalidator(swob.Request(env))(env, start_response)
        return self.app(env, start_response)

    @property
    def prevalidator(self):
        """The :class:`.prevalidate.Prevalidator` when ``zerovm_prevalidate`` is on."""
        if not self.config.prevalidate:
            return None
        if self._prevalidator is None:
            from zerocloud.object_middleware.prevalidate import Prevalidator
            self._prevalidator = Prevalidator(self.app, self.config, self.logger,
                                              self.local_objects)
        return self._prevalidator

    def execute(self, req):
        """Admit, prepare and start one session.

        :raises HTTPException: 400 for another wire version, and those of
            :meth:`ExecuteRequest.response`.
        """
        version = req.headers.get(wire.VERSION_HEADER)
        if version != wire.WIRE_VERSION:
            raise swob.HTTPBadRequest(body='unsupported zerocloud wire version %r (this '
                                           'server speaks %s)\n' % (version, wire.WIRE_VERSION))
        return ExecuteRequest(self, req).response()


def filter_factory(global_conf, **local_conf):
    """Paste entry point: parse the options once and build the filter.

    :raises ValueError: a bad option value, named in the message.
    """
    conf = dict(global_conf)
    conf.update(local_conf)
    config = ObjectConfig.from_conf(conf)
    try:
        checked_base(config.work_dir or default_base())
    except WorkDirError as exc:
        raise ValueError(str(exc)) from exc
    logger = get_logger(conf, log_route='zerocloud-object')
    soft, hard = raise_open_files_limit()
    logger.info('zerocloud: open files limit %s (hard limit %s)', soft, hard)

    def make_filter(app):
        return ZerocloudObject(app, config, logger, conf)
    return make_filter
