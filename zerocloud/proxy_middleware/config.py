"""The proxy filter's configuration: parsed once at load into a frozen :class:`ProxyConfig`."""
import dataclasses

from zerocloud import options, wire

GiB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """Typed ``[filter:zerocloud]`` options of the proxy server (SPEC S8).

    Field names carry their units; see the package docstring for each option's meaning.
    """
    max_config_bytes: int = 65536
    timeout_seconds: float = 10.0
    max_input_bytes: int = GiB
    max_output_bytes: int = GiB
    max_instances: int = 100_000
    default_content_type: str = 'application/octet-stream'
    sysimage_devices: tuple = ('python',)
    prevalidate: bool = False
    uses_newest: bool = False
    use_cors: bool = False
    accounting_enabled: bool = False
    user_stats_account: str = 'userstats'
    conn_timeout_seconds: float = 0.5
    swift_dir: str = '/etc/swift'
    rendezvous_ip: str = '127.0.0.1'
    rendezvous_timeout_seconds: float = 5.0
    job_timeout_seconds: float = 600.0
    server_slots: int = 10
    deferred_after_seconds: float = 10.0
    shuffle_spool: str = 'auto'

    @classmethod
    def from_conf(cls, conf):
        """Parse the merged paste conf.

        :raises ValueError: naming the first bad option.
        """
        refuse_unbuilt_options(conf)
        d = cls()
        return cls(
            max_config_bytes=options.parse_int(conf, 'zerovm_maxconfig', d.max_config_bytes, 1),
            timeout_seconds=options.parse_seconds(conf, 'zerovm_timeout', d.timeout_seconds),
            max_input_bytes=options.parse_int(conf, 'zerovm_maxinput', d.max_input_bytes),
            max_output_bytes=options.parse_int(conf, 'zerovm_maxoutput', d.max_output_bytes),
            max_instances=options.parse_int(conf, 'zerovm_maxinstances', d.max_instances, 1),
            default_content_type=options.parse_str(
                conf, 'zerovm_default_content_type', d.default_content_type),
            sysimage_devices=tuple(
                name for name, _ in options.parse_sysimages(conf, 'zerovm_sysimage_devices')
            ) or d.sysimage_devices,
            prevalidate=options.parse_bool(conf, 'zerovm_prevalidate', d.prevalidate),
            uses_newest=options.parse_bool(conf, 'zerovm_uses_newest', d.uses_newest),
            use_cors=options.parse_bool(conf, 'zerovm_use_cors', d.use_cors),
            accounting_enabled=options.parse_bool(
                conf, 'zerovm_accounting_enabled', d.accounting_enabled),
            user_stats_account=options.parse_str(
                conf, 'user_stats_account', d.user_stats_account),
            conn_timeout_seconds=options.parse_seconds(
                conf, 'zerovm_conn_timeout', d.conn_timeout_seconds),
            swift_dir=options.parse_str(conf, 'swift_dir', d.swift_dir),
            rendezvous_ip=options.parse_str(conf, 'zerovm_rendezvous_ip',
                                            options.default_bind_ip(conf)),
            rendezvous_timeout_seconds=options.parse_seconds(
                conf, 'zerovm_rendezvous_timeout', d.rendezvous_timeout_seconds),
            job_timeout_seconds=options.parse_seconds(
                conf, 'zerovm_job_timeout', d.job_timeout_seconds),
            server_slots=options.parse_int(conf, 'zerovm_server_slots', d.server_slots, 1),
            deferred_after_seconds=options.parse_seconds(
                conf, 'zerovm_deferred_after', d.deferred_after_seconds),
            shuffle_spool=options.parse_choice(conf, 'zerovm_shuffle_spool', d.shuffle_spool,
                                               ('auto', 'always', 'never')),
        )

    def info(self):
        """The capabilities advertised in ``/info`` under ``zerocloud``."""
        return {
            'version': '1.0',
            'max_config_bytes': self.max_config_bytes,
            'timeout_seconds': self.timeout_seconds,
            'max_input_bytes': self.max_input_bytes,
            'max_output_bytes': self.max_output_bytes,
            'max_instances': self.max_instances,
            'job_timeout_seconds': self.job_timeout_seconds,
            'deferred_after_seconds': self.deferred_after_seconds,
            'shuffle_spool': self.shuffle_spool,
            'default_content_type': self.default_content_type,
            'sysimage_devices': list(self.sysimage_devices),
            'prevalidate': self.prevalidate,
            'use_cors': self.use_cors,
            'job_content_types': ['application/json'],
            'max_session_channels': wire.MAX_SESSION_CHANNELS,
        }


def refuse_unbuilt_options(conf):
    """ZeroCloud options this version does not implement stop the proxy at start-up when set
    (left at their "off" value they are accepted, so a ZeroCloud config keeps working)."""
    options.refuse_unbuilt(conf, 'zerovm_maxiops', 'channels are limited in bytes, not in '
                           'I/O calls: use zerovm_maxinput/zerovm_maxoutput')
