"""The all-in-one cluster's configuration files, as text.

Everything here is pure: no process is started, no file is written.  :func:`render_configs`
returns ``{path relative to DIR/etc: text}`` for ``swift.conf``, ``proxy-server.conf`` and one
account, container and object server configuration per node.  The pipelines come from
:mod:`zerocloud.aio.pipelines`.
"""
import os
import pwd

from zerocloud.aio import pipelines
from zerocloud.aio.spec import (EC_DATA_FRAGMENTS, EC_INDEX, EC_PARITY_FRAGMENTS,
                                STORAGE_KINDS, USERS, metadata_constraints)

#: The keymaster's root secret of an ``encryption`` test cluster: fixed and public (base64 of
#: 32 bytes), so never a protection, only a way to have encrypted objects to test against.
TEST_ROOT_SECRET = 'emVyb2Nsb3VkLWFpby10ZXN0LXJvb3Qtc2VjcmV0ISE='


def _section(name, options):
    lines = ['[%s]' % name] + ['%s = %s' % (key, value) for key, value in options.items()]
    return '\n'.join(lines) + '\n'


def _sections(sections):
    return '\n'.join(_section(name, options) for name, options in sections)


def log_options(spec, log_name):
    """Options that send a server's log to the cluster's UDP log receiver."""
    return {'log_name': log_name, 'log_udp_host': '127.0.0.1',
            'log_udp_port': spec.log_port, 'log_level': 'INFO'}


def swift_conf(spec, xattr_room):
    """Text of ``swift.conf``: hash path, storage policies, and constraints if needed.

    :param xattr_room: bytes of xattr one file can hold on the devices' filesystem.
    """
    sections = [('swift-hash', {'swift_hash_path_suffix': 'zerocloud-aio-suffix',
                                'swift_hash_path_prefix': 'zerocloud-aio-prefix'})]
    for index, name, _replicas in spec.policy_replicas():
        options = {'name': name, 'policy_type': 'replication'}
        if index == 0:
            options['default'] = 'yes'
        if index == EC_INDEX:
            options.update(policy_type='erasure_coding', ec_type='liberasurecode_rs_vand',
                           ec_num_data_fragments=str(EC_DATA_FRAGMENTS),
                           ec_num_parity_fragments=str(EC_PARITY_FRAGMENTS),
                           ec_object_segment_size='1048576')
        sections.append(('storage-policy:%d' % index, options))
    constraints = metadata_constraints(xattr_room)
    if constraints:
        sections.append(('swift-constraints', constraints))
    return _sections(sections)


def tempauth_options():
    """The tempauth filter section: the SAIO users."""
    options = {'use': 'egg:swift#tempauth'}
    for account, user, key, groups in USERS:
        options['user_%s_%s' % (account, user)] = ' '.join((key,) + groups)
    return options


#: Paste sections of the Swift filters the pipelines use (name -> options).
SWIFT_FILTER_SECTIONS = {
    'catch_errors': {'use': 'egg:swift#catch_errors'},
    'gatekeeper': {'use': 'egg:swift#gatekeeper'},
    'healthcheck': {'use': 'egg:swift#healthcheck'},
    'proxy-logging': {'use': 'egg:swift#proxy_logging'},
    'listing_formats': {'use': 'egg:swift#listing_formats'},
    'bulk': {'use': 'egg:swift#bulk'},
    'tempurl': {'use': 'egg:swift#tempurl'},
    'ratelimit': {'use': 'egg:swift#ratelimit'},
    'crossdomain': {'use': 'egg:swift#crossdomain'},
    'container_sync': {'use': 'egg:swift#container_sync'},
    'staticweb': {'use': 'egg:swift#staticweb'},
    'copy': {'use': 'egg:swift#copy'},
    'container-quotas': {'use': 'egg:swift#container_quotas'},
    'account-quotas': {'use': 'egg:swift#account_quotas'},
    'slo': {'use': 'egg:swift#slo'},
    'dlo': {'use': 'egg:swift#dlo'},
    'versioned_writes': {'use': 'egg:swift#versioned_writes',
                         'allow_versioned_writes': 'true',
                         'allow_object_versioning': 'true'},
    'symlink': {'use': 'egg:swift#symlink'},
}


def _filter_sections(pipeline, spec, extra=None):
    """Return [(section name, options)] for every filter of ``pipeline``."""
    sections = []
    for name in dict.fromkeys(pipeline[:-1]):  # proxy-logging appears twice
        if name in pipelines.ZEROCLOUD_FILTER_MODULES:
            options = {'use': 'egg:zerocloud#%s' % name}
            options.update(pipelines.filter_options(name, spec.filter_options))
        elif extra and name in extra:
            options = extra[name]
        else:
            options = SWIFT_FILTER_SECTIONS[name]
        sections.append(('filter:%s' % name, options))
    return sections


def _default_section(spec, log_name, port, server_user=None):
    """``[DEFAULT]``: with ``server_user``, Swift's ``user`` and one worker (Swift switches
    to its user only in worker processes: :mod:`zerocloud.aio.server_user`); else one
    process per server, as whoever starts the cluster."""
    options = {'bind_ip': '127.0.0.1', 'bind_port': port, 'workers': 1 if server_user else 0,
               'swift_dir': spec.etc_dir, 'user': server_user or _current_user()}
    options.update(log_options(spec, log_name))
    return ('DEFAULT', options)


def _current_user():
    """Servers run as whoever starts the cluster (Swift's default user is ``swift``)."""
    return pwd.getpwuid(os.getuid()).pw_name


def proxy_conf(spec, zerocloud_filters, server_user=None):
    """Text of ``proxy-server.conf``.

    :param zerocloud_filters: names of the zerocloud filters to put in the pipeline.
    :param server_user: the user the server switches to (None: whoever starts it).
    """
    pipeline = pipelines.proxy_pipeline(zerocloud_filters, spec.encryption)
    extra = {'cache': {'use': 'egg:swift#memcache',
                       'memcache_servers': '127.0.0.1:%d' % spec.memcache_port},
             'tempauth': tempauth_options(),
             'keymaster': {'use': 'egg:swift#keymaster',
                           'encryption_root_secret': TEST_ROOT_SECRET},
             'encryption': {'use': 'egg:swift#encryption'}}
    app = {'use': 'egg:swift#proxy', 'allow_account_management': 'true',
           'account_autocreate': 'true', 'expose_info': 'true'}
    sections = [_default_section(spec, 'proxy-server', spec.port, server_user),
                ('pipeline:main', {'pipeline': ' '.join(pipeline)})]
    sections += _filter_sections(pipeline, spec, extra)
    sections.append(('app:proxy-server', app))
    return _sections(sections)


def storage_conf(spec, kind, node, zerocloud_filters, server_user=None):
    """Text of the ``kind`` server configuration of node ``node`` (1-based).

    :param kind: 'account', 'container' or 'object'.
    :param server_user: the user the server switches to (None: whoever starts it).
    """
    app_name = '%s-server' % kind
    if kind == 'object':
        pipeline = pipelines.object_pipeline(zerocloud_filters)
    else:
        pipeline = pipelines.plain_pipeline(app_name)
    default = _default_section(spec, '%s-%d' % (app_name, node), spec.server_port(kind, node),
                               server_user)
    default[1].update({'devices': spec.node_devices(node), 'mount_check': 'false'})
    app = {'use': 'egg:swift#%s' % kind}
    if kind == 'container':
        app['allow_versions'] = 'true'
    if kind == 'object':
        # No object-updater runs: give container updates time on a busy 2-core machine
        # instead of leaving async pendings that nothing would ever apply.
        app['container_update_timeout'] = '10'
    sections = [default, ('pipeline:main', {'pipeline': ' '.join(pipeline)})]
    sections += _filter_sections(pipeline, spec)
    sections.append(('app:%s' % app_name, app))
    return _sections(sections)


def storage_conf_path(kind, node):
    """Path of a storage server's configuration, relative to ``DIR/etc``."""
    return '%s-server/%d.conf' % (kind, node)


def render_configs(spec, zerocloud_filters, xattr_room, server_user=None):
    """Return {path relative to DIR/etc: text} of every configuration file of the cluster.

    :param zerocloud_filters: the zerocloud filter names to include (see
        :func:`zerocloud.aio.pipelines.available_zerocloud_filters`).
    :param xattr_room: bytes of xattr one file holds on the devices' filesystem.
    :param server_user: the user every server switches to (``aio start --user``), or None.
    """
    files = {'swift.conf': swift_conf(spec, xattr_room),
             'proxy-server.conf': proxy_conf(spec, zerocloud_filters, server_user)}
    for node in spec.node_numbers():
        for kind in STORAGE_KINDS:
            files[storage_conf_path(kind, node)] = storage_conf(
                spec, kind, node, zerocloud_filters, server_user)
    return files
