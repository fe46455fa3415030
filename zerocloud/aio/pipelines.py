"""The one place that lists the filters of the all-in-one cluster's pipelines.

Swift's own filters are those of the upstream SAIO, in its order (minus ``s3api``, which needs
extra configuration).  zerocloud's proxy filters (``job_chain proxy_middleware``) sit right
after authentication and before the filters that give objects their meaning (copy, quotas,
SLO/DLO, versioned writes, symlinks): a job reads and writes through subrequests to the rest
of the pipeline, so its inputs are assembled large objects and its outputs count against
quotas exactly as a client's GET and PUT would.  ``object_middleware`` sits just before the
object server application.

Every zerocloud filter that the package declares (``setup.cfg`` entry points) is checked
when the configuration is generated: a module that is missing, fails to import or has no
``filter_factory`` is an error (:class:`FilterImportError`), reported, never silently left
out of the pipeline.
"""
import importlib
import types

#: Swift filters of the proxy pipeline before the zerocloud filters (up to authentication).
PROXY_SWIFT_FILTERS = (
    'catch_errors', 'gatekeeper', 'healthcheck', 'proxy-logging', 'cache',
    'listing_formats', 'bulk', 'tempurl', 'ratelimit', 'crossdomain', 'container_sync',
    'tempauth',
)
#: zerocloud filters of the proxy pipeline: right after auth.
PROXY_ZEROCLOUD_FILTERS = ('job_chain', 'proxy_middleware')
#: Filters between the zerocloud filters and the application: the job's subrequests pass
#: through them.
PROXY_TAIL = ('staticweb', 'copy', 'container-quotas', 'account-quotas', 'slo', 'dlo',
              'versioned_writes', 'symlink', 'proxy-logging')
PROXY_APP = 'proxy-server'
#: Swift's at-rest encryption (a ``ClusterSpec(encryption=True)`` cluster).
ENCRYPTION_FILTERS = ('keymaster', 'encryption')

OBJECT_SWIFT_FILTERS = ('healthcheck',)
OBJECT_ZEROCLOUD_FILTERS = ('object_middleware',)
OBJECT_APP = 'object-server'

#: Account and container servers carry no zerocloud filter.
PLAIN_SWIFT_FILTERS = ('healthcheck',)

#: Python module that must provide ``filter_factory`` for each zerocloud filter.  The paste
#: section uses the entry point of the same name: ``use = egg:zerocloud#<name>``.
ZEROCLOUD_FILTER_MODULES = types.MappingProxyType({
    'job_chain': 'zerocloud.chain',
    'proxy_middleware': 'zerocloud.proxy_middleware',
    'object_middleware': 'zerocloud.object_middleware',
})

#: Options given to each zerocloud filter unless the caller overrides them.
DEFAULT_FILTER_OPTIONS = types.MappingProxyType({
    'job_chain': types.MappingProxyType({}),
    'proxy_middleware': types.MappingProxyType({'zerovm_prevalidate': 'yes'}),
    'object_middleware': types.MappingProxyType({'zerovm_prevalidate': 'yes'}),
})


class FilterImportError(RuntimeError):
    """A zerocloud filter's module is missing, cannot be imported or has no
    ``filter_factory``."""


def check_filter(name, module_name=None):
    """Import the module behind zerocloud filter ``name`` and check its ``filter_factory``.

    :param module_name: the module (default: :data:`ZEROCLOUD_FILTER_MODULES`'s entry).
    :raises FilterImportError: naming the filter, the module and what went wrong.
    """
    module_name = module_name or ZEROCLOUD_FILTER_MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise FilterImportError('cannot import %s for filter %s: %s: %s'
                                % (module_name, name, type(exc).__name__, exc)) from exc
    if not callable(getattr(module, 'filter_factory', None)):
        raise FilterImportError('%s (filter %s) has no filter_factory' % (module_name, name))


def available_zerocloud_filters(wanted=True):
    """Return the zerocloud filter names to put in the pipelines (all of them), as a tuple,
    after checking each with :func:`check_filter`.

    :param wanted: False gives an empty tuple (a plain Swift cluster for comparisons).
    :raises FilterImportError: a filter's module cannot provide it.
    """
    if not wanted:
        return ()
    for name in ZEROCLOUD_FILTER_MODULES:
        check_filter(name)
    return tuple(ZEROCLOUD_FILTER_MODULES)


def proxy_pipeline(zerocloud_filters, encryption=False):
    """Return the proxy pipeline (filter names then the app) for the given zerocloud filters;
    ``encryption`` adds Swift's ``keymaster encryption`` just before the last proxy-logging."""
    ours = tuple(f for f in PROXY_ZEROCLOUD_FILTERS if f in zerocloud_filters)
    tail = PROXY_TAIL[:-1] + (ENCRYPTION_FILTERS if encryption else ()) + PROXY_TAIL[-1:]
    return PROXY_SWIFT_FILTERS + ours + tail + (PROXY_APP,)


def object_pipeline(zerocloud_filters):
    """Return the object server pipeline for the given zerocloud filters."""
    ours = tuple(f for f in OBJECT_ZEROCLOUD_FILTERS if f in zerocloud_filters)
    return OBJECT_SWIFT_FILTERS + ours + (OBJECT_APP,)


def plain_pipeline(app):
    """Return the pipeline of an account or container server (``app`` is its app name)."""
    return PLAIN_SWIFT_FILTERS + (app,)


def filter_options(name, overrides=None):
    """Return the options of zerocloud filter ``name``: defaults updated by ``overrides``.

    :param overrides: mapping filter name -> mapping of option -> value (strings).
    """
    options = dict(DEFAULT_FILTER_OPTIONS.get(name, {}))
    options.update((overrides or {}).get(name, {}))
    return {key: str(value) for key, value in options.items()}
