"""The job description language of zerocloud (ZeroCloud's "servlet configuration").

A job is a JSON array of node definitions (a single object is a list of one)::

    [{"name": "sort",                                   required, [A-Za-z0-9_-]{1,128}
      "exec": {"path": "swift://~/exec/sort",           required: swift:// object, or
                                                        file://[image:]path, or a bare path
               "args": "-k 'a b'",                      string (split like a shell) or list
               "env": {"LANG": "C"},                    names [A-Za-z0-9_]+, string values
               "name": "sort"},                         argv[0]; default: the instance name
      "devices": [                                      ("file_list" is the old spelling)
          {"name": "stdin",                             ("device" is the old spelling)
           "path": "swift://~/data/binary*.data"},
          {"name": "stdout", "path": "swift://~/data/sorted*.data",
           "content_type": "text/plain",                writable only: the object's type
           "meta": {"Color": "blue"},                   X-Object-Meta-*, Swift's limits
           "min_size": 0,                               publish only if at least this big
           "mode": "file"},                             stat() type: file|char|pipe|block
          {"name": "stderr"}],                          no path: into the HTTP response
      "count": 1,                                       instances when no readable wildcard
      "connect": ["merge"],                             one-way streams to these nodes
      "replicate": 1,                                   1-3 copies compared for determinism
      "attach": "default",                              device to co-locate with
      "location": "rack-a"}]                            co-location hint

Devices (:mod:`zerocloud.job.devices` has the full table): ``stdin`` (sequential read),
``input``/``script`` (random read), ``stdout``/``stderr`` (sequential write), ``output``
(random write), ``image`` (a tar mounted at /), ``debug`` (tcp:// or udp:// only), and the
operator's system images (``python`` by default; no path).  Readable devices need a
swift:// path, except one path-less readable device per node, which receives the request
payload.  Writable devices without a path go into the HTTP response.  URLs are described in
:mod:`zerocloud.job.urls`; expansion, naming and placement in :mod:`zerocloud.job.expand`;
channels in :mod:`zerocloud.job.connect`.

Device modes (``mode``, Servlets.md rule 16) choose what ``stat()`` says about a readable or
writable device and how the program can move in it.  Only a mode the job writes changes
anything: without one a device is shown as what holds its bytes, which in the cluster is
always a regular file (the co-located object's data file, or a spool on the object server).
The original's defaults (``pipe`` for stdin, stdout and stderr, ``block`` for the others)
are not applied: they would pump every co-located stdin through a FIFO instead of handing
the program the object's file.  A jail has no character or block devices of its own (a
device node needs ``CAP_MKNOD`` outside any user namespace, and a driver to move the bytes),
so the two are shown as the closest the kernel offers:

=========  ===============  ===============================================================
mode       stat() type      what the program gets
=========  ===============  ===============================================================
``file``   regular file     the file holding the bytes: seekable, ``st_size`` is the size
                            (the co-located object's own file, zero-copy)
``block``  regular file     the same as ``file`` (random access, like a block device)
``pipe``   FIFO             a stream pumped from or into that file: ``lseek`` fails with
                            ``ESPIPE``; the channel's byte limit is exact as for files
``char``   FIFO             the same as ``pipe`` (a non-seekable stream, like a character
                            device)
=========  ===============  ===============================================================

Devices that are not channels (``image``, ``debug``, system images) take no ``mode``, and a
``zvm://`` device is a stream, so it takes only ``pipe`` or ``char``: anything else is a
problem located at ``[i].devices[j].mode``.

Rules checked by :func:`parse_job` (ZeroCloud doc/Servlets.md rules 1-21; every problem is
reported, each located like ``[1].devices[2].path``): unknown keys and wrong types; device
names; which devices need, may or must not have a path and what kind; one path-less
readable device per node; one readable wildcard per node; no wildcard on debug or in an
account; a writable swift path of a node with several instances must hold a wildcard, and
not more wildcards than the readable wildcard captures; duplicate node and device names;
connect and zvm:// targets exist; a single node cannot connect to itself; count >= 1;
replicate 1-3; mode (see above); min_size >= 0; attach names a device of the node; no
control characters anywhere; args that split, env names not reserved, argv and env within
their limits; size of the JSON (``max_config_bytes``, 413).  Before those, the JSON text itself
(:mod:`zerocloud.job.jsontext`): UTF-8 (a BOM is ignored), located as ``line 3, column 7``
where it breaks; no lone surrogates (``"\\ud800"``) in any key or value, no ``NaN`` or
``Infinity``, no number out of range, no duplicate key, at most 32 levels of nesting, each
located like ``[0].exec.env['\\ud800']`` (a key that is not printable text is shown as
its escaped repr).  Messages are always encodable (what UTF-8 cannot carry is
backslash-escaped) and list at most 100 problems, then how many more.  :func:`expand`
adds what needs listings: no objects found, the instance limit, clashing instance names.

The command line and environment (:mod:`zerocloud.job.command`): a string ``args`` is split
with POSIX shell rules (:func:`shlex.split`: quotes and backslashes, nothing expanded), so
``"x 'y z'"`` gives ``['x', 'y z']``; a list is taken as it is; an unterminated quote is a
problem located at ``[i].exec.args``.  ``env`` may not name the variables zerocloud sets from
the request (SPEC S6: ``GATEWAY_INTERFACE``, ``REQUEST_METHOD``, ``REQUEST_URI``,
``PATH_INFO``, ``QUERY_STRING``, ``SCRIPT_NAME``, ``SCRIPT_FILENAME``, ``REMOTE_USER``,
``REMOTE_ADDR``, ``AUTH_TYPE``, ``SERVER_NAME``, ``SERVER_PORT``, ``SERVER_PROTOCOL``,
``SERVER_SOFTWARE``, ``CONTENT_TYPE``, ``CONTENT_LENGTH``, every ``HTTP_*`` and ``LOCAL_*``;
case-sensitive): such a job is a 400 located at ``[i].exec.env.<NAME>``, not a variable
silently dropped or overridden, because a program that was promised a value must not run
with another one; a client that wants to pass a value uses a name of its own.  The proxy
asks :func:`is_reserved_env` too.

Limits: argv (argv[0] included) and environment of a node take at most 65536 bytes, each
string with its NUL and a variable as ``NAME=VALUE`` (argv[0] counted as ``exec.name``, or as
the longest instance name ``<node>-2147483647``), at most 1024 argv strings and 1024
variables (:mod:`zerocloud.limits`: ``MAX_JOB_ARGV_ENV_BYTES``, ``MAX_ARGV_ITEMS``,
``MAX_JOB_ENV_ITEMS``; a sandbox session takes twice as much, for the variables the servers
add); beyond, a 400 located at ``[i].exec`` (size), ``[i].exec.args`` or ``[i].exec.env``
(counts).  The JSON text is at most ``max_config_bytes`` (65536, ``zerovm_maxconfig``; 413
beyond); ``count`` at most 2**31-1; a job expands to at most ``max_instances`` instances x
replicas (:data:`DEFAULT_MAX_INSTANCES`, 100,000) and ``max_channels`` connect channels
(:data:`DEFAULT_MAX_CHANNELS`, 250,000); the listing is not read further than needed to
tell that the limit is exceeded.

Also here: ``schema.json``, a JSON Schema of the language for editors and clients
(:func:`load_schema`; weaker than the parser, never stricter), and the offline checker
``zerocloud check JOB.json [--account A] [--listing LISTING.json] [--json]``.

Compatibility notes: ``args`` at node level (as in the Servlets.md sort example) is taken
as ``exec.args``; a string ``args`` is split like a shell command line (the original split
on whitespace: the two differ only for quotes and backslashes); instances are numbered
``<node>-1..N`` when the node is a group (wildcard or count > 1) and keep the node name
otherwise; wildcards must match whole names (the original matched prefixes); instance order
is definition order, then number.

Usage::

    from zerocloud.job import parse_job, expand, JobError
    try:
        job = parse_job(body, max_config_bytes=65536, sysimages=('python',))
        plan = expand(job, account='AUTH_test', list_objects=lister)
    except JobError as err:
        return err.status, str(err)      # 400 or 413; every problem, one per line
    for instance in plan.instances:
        instance.name, instance.devices, instance.in_channels, instance.placement
"""
from zerocloud.job.command import RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, is_reserved_env
from zerocloud.job.connect import DEFAULT_MAX_CHANNELS
from zerocloud.job.errors import JobError
from zerocloud.job.expand import DEFAULT_MAX_INSTANCES, expand, find_matches
from zerocloud.job.model import (DEFAULT_SYSIMAGES, DEVICE_MODES, IMAGE, NETWORK, READABLE,
                                 READABLE_DEVICES, STANDARD_DEVICES, SYSIMAGE, WRITABLE,
                                 WRITABLE_DEVICES, Channel, Device, DeviceSpec, Exec,
                                 ExecSpec, Instance, Job, Node, Plan, device_access)
from zerocloud.job.parse import DEFAULT_MAX_CONFIG_BYTES, decode, parse_job
from zerocloud.job.urls import ImageUrl, NetUrl, SwiftUrl, ZvmUrl, parse_url


def load_schema():
    """The JSON Schema of the job language (``schema.json`` shipped in this package)."""
    import json
    from importlib.resources import files
    return json.loads(files(__name__).joinpath('schema.json').read_text(encoding='utf-8'))


__all__ = [
    'JobError', 'parse_job', 'load_schema', 'decode', 'expand', 'find_matches', 'parse_url',
    'Job', 'Node', 'ExecSpec', 'DeviceSpec', 'Plan', 'Instance', 'Exec', 'Device', 'Channel',
    'SwiftUrl', 'ImageUrl', 'ZvmUrl', 'NetUrl', 'device_access',
    'READABLE', 'WRITABLE', 'IMAGE', 'NETWORK', 'SYSIMAGE', 'READABLE_DEVICES', 'WRITABLE_DEVICES',
    'STANDARD_DEVICES', 'DEVICE_MODES', 'DEFAULT_SYSIMAGES', 'DEFAULT_MAX_CONFIG_BYTES',
    'DEFAULT_MAX_INSTANCES', 'DEFAULT_MAX_CHANNELS',
    'is_reserved_env', 'RESERVED_ENV_NAMES', 'RESERVED_ENV_PREFIXES',
]
