"""Swift credentials for the client commands, as the ``swift`` command takes them.

The one place that talks to python-swiftclient's option handling.  Flags and their
environment defaults (read when the command starts):

    -A/--auth ST_AUTH  -U/--user ST_USER  -K/--key ST_KEY
    -V/--auth-version ST_AUTH_VERSION, OS_AUTH_VERSION, OS_IDENTITY_API_VERSION (1.0)
    --os-auth-url --os-username --os-password --os-user-id --os-tenant-name
    --os-tenant-id --os-project-name --os-project-id --os-user-domain-name
    --os-user-domain-id --os-project-domain-name --os-project-domain-id
    --os-region-name --os-service-type --os-endpoint-type --os-auth-type
    --os-auth-token --os-storage-url --os-cacert --os-cert --os-key
                                                 each defaulting to env[OS_...]
    --insecure SWIFTCLIENT_INSECURE    -T/--timeout (seconds)

As with ``swift``: v1 auth (tempauth) needs auth URL, user and key; keystone (``-V 2`` or
``3``, or only ``OS_*`` given) needs the ``--os-*`` values; ``--os-storage-url`` with
``--os-auth-token`` skips authentication.
"""
import os

OS_OPTIONS = ('username', 'password', 'user_id', 'tenant_name', 'tenant_id', 'project_name',
              'project_id', 'user_domain_name', 'user_domain_id', 'project_domain_name',
              'project_domain_id', 'region_name', 'service_type', 'endpoint_type',
              'auth_type', 'auth_token', 'storage_url', 'auth_url', 'cacert', 'cert', 'key',
              'application_credential_id', 'application_credential_secret')
TRUE = ('1', 'true', 'yes', 'on')


class AuthError(Exception):
    """Credentials are missing or refused; the message says which and how to give them."""


def add_arguments(parser):
    """Add the ``swift`` command's auth flags (see the module docstring) to ``parser``."""
    group = parser.add_argument_group('Swift authentication (as the swift command)')
    env = os.environ
    group.add_argument('-A', '--auth', default=env.get('ST_AUTH'),
                       help='auth URL (default env[ST_AUTH])')
    group.add_argument('-U', '--user', default=env.get('ST_USER'),
                       help='user name (default env[ST_USER])')
    group.add_argument('-K', '--key', default=env.get('ST_KEY'),
                       help='key (default env[ST_KEY])')
    group.add_argument('-V', '--auth-version', default=_default_auth_version(env),
                       help='auth version: 1.0, 2.0 or 3 (default env[ST_AUTH_VERSION] or 1.0)')
    for name in OS_OPTIONS:
        variable = 'OS_' + name.upper()
        group.add_argument('--os-' + name.replace('_', '-'), dest='os_' + name,
                           default=env.get(variable), metavar=name.upper(),
                           help='default env[%s]' % variable)
    group.add_argument('--insecure', action='store_true',
                       default=env.get('SWIFTCLIENT_INSECURE', '').lower() in TRUE,
                       help='do not verify TLS certificates')
    group.add_argument('-T', '--timeout', type=float, default=600.0,
                       help='seconds to wait for the server (default 600)')


def _default_auth_version(env):
    for variable in ('ST_AUTH_VERSION', 'OS_AUTH_VERSION', 'OS_IDENTITY_API_VERSION'):
        if env.get(variable):
            return env[variable]
    return '1.0'


def options_of(args):
    """The swiftclient options dict of parsed ``args``.  :raises AuthError: too few."""
    from swiftclient.service import process_options
    options = {'auth': args.auth, 'user': args.user, 'key': args.key,
               'auth_version': args.auth_version, 'retries': 1, 'timeout': args.timeout,
               'insecure': args.insecure, 'ssl_compression': True,
               'retry_on_ratelimit': True, 'force_auth_retry': False}
    options.update({'os_' + name: getattr(args, 'os_' + name) for name in OS_OPTIONS})
    process_options(options)
    if options['os_storage_url'] and options['os_auth_token']:
        return options
    if not (options['auth'] and options['user'] and options['key']):
        raise AuthError('no credentials: set ST_AUTH, ST_USER and ST_KEY (or -A, -U, -K; '
                        'or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and a project with -V 3; '
                        'or --os-storage-url with --os-auth-token); '
                        '`zerocloud aio env` prints them for the local cluster')
    return options


def connection(args):
    """A swiftclient ``Connection`` for ``args``.  :raises AuthError: too few credentials."""
    from swiftclient.service import get_conn
    return get_conn(options_of(args))


def authenticate(conn):
    """``(storage_url, token)`` of ``conn``.  :raises AuthError: refused or unreachable."""
    from swiftclient.exceptions import ClientException
    try:
        return conn.get_auth()
    except ClientException as err:
        raise AuthError('authentication failed: %s' % err) from None
    except OSError as err:
        raise AuthError('cannot reach the auth service: %s' % err) from None


def tls_verify(args):
    """The ``verify`` argument of a ``requests`` call for ``args``."""
    if args.insecure:
        return False
    return args.os_cacert or True
