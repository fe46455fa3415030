"""The object filter's configuration: parsed once at load into a frozen :class:`ObjectConfig`."""
import dataclasses
import os

from zerocloud import limits, options, wire
from zerocloud.sandbox.prestart import DEFAULT_IMPORTS, PrestartOptions

MiB = 1024 ** 2
GiB = 1024 ** 3
BUILTIN_IMAGE = 'python'  # the sandbox's built-in image: the host's CPython


@dataclasses.dataclass(frozen=True)
class ObjectConfig:
    """Typed ``[filter:zerocloud]`` options of the object server (SPEC S8).

    ``sysimage_devices`` maps each system image name to its absolute host path (``python``
    without a path is the sandbox's built-in image of the host's CPython, the default);
    ``work_dir`` is the base of the per-process work directories ('' = the default of
    :func:`zerocloud.object_middleware.workdir.default_base`); ``prevalidate`` validates
    stored executables (:mod:`zerocloud.object_middleware.prevalidate`).
    """
    max_nexe_bytes: int = limits.DEFAULT_MAX_EXECUTABLE_BYTES
    max_nexe_memory_bytes: int = 4 * GiB
    timeout_seconds: float = 10.0
    max_pool: int = 10
    max_queue: int = 3
    sysimage_devices: tuple = (('python', ''),)
    debug: bool = False
    work_dir: str = ''
    max_input_bytes: int = GiB
    max_output_bytes: int = GiB
    executable_cache_entries: int = 64
    input_cache_entries: int = 8
    channel_ip: str = '127.0.0.1'
    image_cache_bytes: int = 4 * GiB
    prevalidate: bool = False
    python_prestart: int = 0
    python_preimports: tuple = DEFAULT_IMPORTS
    shuffle_max_bytes: int = 0

    @classmethod
    def from_conf(cls, conf):
        """Parse the merged paste conf.

        :raises ValueError: naming the first bad option.
        """
        options.refuse_unbuilt(conf, 'zerovm_kill_timeout', 'a session is killed at once when '
                               'its zerovm_timeout passes; there is no grace period')
        d = cls()
        images = options.parse_sysimages(conf, 'zerovm_sysimage_devices')
        images = tuple((name, '' if path is None and name == BUILTIN_IMAGE else path)
                       for name, path in images) or d.sysimage_devices
        for name, path in images:
            if path is None:
                raise ValueError('zerovm_sysimage_devices: image %r has no host path '
                                 '(expected "name /path name /path ...")' % name)
        prestart = PrestartOptions.parse(conf.get('zerovm_python_prestart', d.python_prestart),
                                         conf.get('zerovm_python_preimports'))
        work_dir = options.parse_str(conf, 'zerovm_work_dir', d.work_dir)
        if work_dir and not os.path.isabs(work_dir):
            raise ValueError('zerovm_work_dir: must be an absolute path, got %r' % work_dir)
        return cls(
            max_nexe_bytes=options.parse_int(conf, 'zerovm_maxnexe', d.max_nexe_bytes, 1),
            max_nexe_memory_bytes=options.parse_int(
                conf, 'zerovm_maxnexemem', d.max_nexe_memory_bytes, MiB),
            timeout_seconds=options.parse_seconds(conf, 'zerovm_timeout', d.timeout_seconds),
            max_pool=options.parse_int(conf, 'zerovm_maxpool', d.max_pool, 1),
            max_queue=options.parse_int(conf, 'zerovm_maxqueue', d.max_queue, 0),
            sysimage_devices=images,
            debug=options.parse_bool(conf, 'zerovm_debug', d.debug),
            work_dir=work_dir,
            max_input_bytes=options.parse_int(conf, 'zerovm_maxinput', d.max_input_bytes),
            max_output_bytes=options.parse_int(conf, 'zerovm_maxoutput', d.max_output_bytes),
            executable_cache_entries=options.parse_int(
                conf, 'zerovm_executable_cache_entries', d.executable_cache_entries, 1),
            input_cache_entries=options.parse_int(
                conf, 'zerovm_input_cache_entries', d.input_cache_entries, 0),
            channel_ip=options.parse_str(conf, 'zerovm_channel_ip',
                                         options.default_bind_ip(conf)),
            image_cache_bytes=options.parse_int(conf, 'zerovm_image_cache_bytes',
                                                d.image_cache_bytes, 1),
            prevalidate=options.parse_bool(conf, 'zerovm_prevalidate', d.prevalidate),
            python_prestart=prestart.pool_size, python_preimports=prestart.imports,
            shuffle_max_bytes=options.parse_int(conf, 'zerovm_shuffle_max_bytes',
                                                d.shuffle_max_bytes),
        )

    def supervisor_options(self):
        """The sandbox supervisor's command-line options for this configuration."""
        return ['--python-prestart', str(self.python_prestart),
                '--python-preimports', ','.join(self.python_preimports)]

    def session_limits(self, requested):
        """The limits a session runs with: the smaller of what the proxy asks for
        (:class:`zerocloud.wire.SessionLimits`) and this server's options."""
        return wire.SessionLimits(
            timeout_seconds=min(requested.timeout_seconds, self.timeout_seconds),
            max_input_bytes=min(requested.max_input_bytes, self.max_input_bytes),
            max_output_bytes=min(requested.max_output_bytes, self.max_output_bytes))

    @property
    def sysimages(self):
        """``{name: host path}`` of the configured system images."""
        return dict(self.sysimage_devices)

    def with_user_image(self, path):
        """This configuration for one session whose user image is unpacked at ``path``:
        the image named :data:`zerocloud.wire.USER_IMAGE` among :attr:`sysimages` (where
        :func:`.runner.build_spec` finds every image's host path)."""
        return dataclasses.replace(self, sysimage_devices=self.sysimage_devices + (
            (wire.USER_IMAGE, path),))
