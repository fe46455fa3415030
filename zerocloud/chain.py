"""zerocloud job_chain filter: run a job's answer as the next job (SPEC S1.7).

Operator manual
===============

Purpose
-------
A job can start another job by answering with one.  When the response to a zerocloud
request carries ``X-Zerovm-Execute`` and ``Content-Type: application/json`` (and a 2xx
status), this filter POSTs its body to ``/v1/<account>`` as the next job, as the same
caller, and so on until an answer is not a job.  The client sees the last answer only.

Client usage
------------
A program answers with a job through a path-less output of type ``message/http`` or
``message/cgi`` (see :mod:`zerocloud.proxy_middleware.http_output`)::

    {"name": "first", "exec": {"path": "file://python:python", "args": "/dev/script"},
     "devices": [{"name": "python"}, {"name": "script", "path": "swift://~/apps/first.py"},
                 {"name": "stdout", "content_type": "message/cgi"}]}

whose program writes to its stdout::

    Content-Type: application/json
    X-Zerovm-Execute: 1.0

    [{"name": "second", "exec": ..., "devices": [...]}]

Every job of the chain is an ordinary job POSTed through the rest of the pipeline: it is
parsed, limited (``zerovm_maxconfig`` bounds the job text, read from the previous answer as
a stream) and authorized as the caller (the caller's identity, ``swift.authorize``, travels
with each job; a chained job that reads an object the caller may not read gets 403).  The
jobs an ``/api/`` app answers with keep its setuid (SPEC S7, the ``zerocloud.origin`` entry
travels with the identity): they may run in the app's account and touch what the app
itself may touch as the owner, nothing more.  A job whose sessions failed never chains (its
answer is not parsed for a head).  The caller's request body is consumed by the first job
(it is that job, script, or the ``/api/`` app's data): the path-less readable devices
(``stdin``) of the jobs it chains to read nothing.

Every response to a zerocloud request (``X-Zerovm-Execute``, ``/open/``, ``/api/``) that
passes this filter carries:

``X-Chain-Total-Time``
    Seconds (``0.123``) from the first job's start to the last answer.
``X-Chain-Length``
    How many jobs ran (1 when the answer was not a job).

The chain stops with an error, the last answer's ``X-Nexe-*`` headers and an
``X-Nexe-Error`` that says why, when an answer is another job but

* ``chain_max_length`` jobs have already run: ``508 Loop Detected``;
* ``chain_timeout`` seconds have passed since the first job started:
  ``504 Gateway Timeout`` (checked between jobs: a job is never cut short by this filter,
  each session has ``zerovm_timeout``).

Other requests pass through untouched.

Pipeline position
-----------------
Right after authentication, right before the zerocloud proxy filter::

    [pipeline:main]
    pipeline = catch_errors gatekeeper ... tempauth job_chain zerocloud staticweb copy ...

    [filter:job_chain]
    use = egg:zerocloud#job_chain

Options (``[filter:job_chain]``; defaults in brackets)
------------------------------------------------------
``chain_timeout`` [20]
    Seconds a chain may run before an answer that is another job stops it (504).
``chain_max_length`` [20]
    Most jobs one request may run, the first included (then 508).

A bad value stops the proxy at start-up with a ``ValueError`` naming the option.  Both are
advertised in ``/info`` under ``zerocloud`` (``chain_timeout_seconds``,
``chain_max_length``).
"""
import dataclasses
import time
from urllib.parse import quote

from swift.common import swob
from swift.common.registry import register_swift_info
from swift.common.utils import FileLikeIter, close_if_possible, get_logger
from swift.common.wsgi import WSGIContext, make_subrequest

from zerocloud import options
from zerocloud.proxy_middleware.request import EXECUTE_HEADER, JSON_TYPES, classify

TOTAL_TIME_HEADER = 'X-Chain-Total-Time'
LENGTH_HEADER = 'X-Chain-Length'
TOO_LONG = '508 Loop Detected'
TOO_SLOW = '504 Gateway Timeout'
SWIFT_SOURCE = 'ZCHAIN'
#: Environ entries of the caller's request that travel with every chained job: the
#: client's socket (a client that hangs up cancels the running job) and the facts the
#: proxy filter keeps under ``zerocloud.*``.
CARRIED_PREFIXES = ('eventlet.input', 'zerocloud.')


@dataclasses.dataclass(frozen=True)
class ChainConfig:
    """Typed ``[filter:job_chain]`` options (see the module docstring)."""
    timeout_seconds: float = 20.0
    max_length: int = 20

    @classmethod
    def from_conf(cls, conf):
        """Parse the merged paste conf.

        :raises ValueError: naming the first bad option.
        """
        d = cls()
        return cls(
            timeout_seconds=options.parse_seconds(conf, 'chain_timeout', d.timeout_seconds),
            max_length=options.parse_int(conf, 'chain_max_length', d.max_length, 1))

    def info(self):
        """What ``/info`` advertises under ``zerocloud``."""
        return {'chain_timeout_seconds': self.timeout_seconds,
                'chain_max_length': self.max_length}


class JobChain:
    """The filter: holds configuration; one :class:`ChainRun` per zerocloud request.

    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, app, config, logger, clock=time.monotonic):
        self.app = app
        self.config = config
        self.logger = logger
        self.clock = clock

    def __call__(self, env, start_response):
        route = classify(swob.Request(env))
        if route is None:
            return self.app(env, start_response)
        return ChainRun(self, env, route.account).run(start_response)


class ChainRun(WSGIContext):
    """One request and the jobs its answers chain to."""

    def __init__(self, chain, env, account):
        super().__init__(chain.app)
        self.chain = chain
        self.env = env
        self.account = account

    def run(self, start_response):
        """Call the next filter; while its answer is a job, POST that job; answer the last.

        Each answer that becomes a job is the next job's body (a stream) and is closed once
        that job has been called.
        """
        started = self.chain.clock()
        env, previous, length = self.env, None, 0
        while True:
            try:
                body = self._app_call(env)
            finally:
                close_if_possible(previous)
            length += 1
            elapsed = self.chain.clock() - started
            if not self._answer_is_a_job():
                return self._answer(start_response, body, elapsed, length)
            stop = self._stop_reason(elapsed, length)
            if stop is not None:
                close_if_possible(body)
                return self._stopped(start_response, stop, elapsed, length)
            env, previous = self._next_job(body), body

    def _answer_is_a_job(self):
        content_type = (self._response_header_value('Content-Type') or '').split(';')[0]
        return (200 <= self._get_status_int() < 300
                and self._response_header_value(EXECUTE_HEADER) is not None
                and content_type.strip().lower() in JSON_TYPES)

    def _stop_reason(self, elapsed, length):
        """``(status, message)`` when the chain must stop before its next job, else None."""
        config = self.chain.config
        if length >= config.max_length:
            return TOO_LONG, ('job chain stopped: %d jobs ran (chain_max_length) and the '
                              'last one answered with another job' % length)
        if elapsed >= config.timeout_seconds:
            return TOO_SLOW, ('job chain stopped: %.3f s passed (chain_timeout %s s) and the '
                              'last job answered with another job'
                              % (elapsed, config.timeout_seconds))
        return None

    def _answer(self, start_response, body, elapsed, length):
        headers = [(name, value) for name, value in self._response_headers
                   if name.lower() not in (TOTAL_TIME_HEADER.lower(), LENGTH_HEADER.lower())]
        start_response(self._response_status, headers + _chain_headers(elapsed, length),
                       self._response_exc_info)
        return body

    def _stopped(self, start_response, stop, elapsed, length):
        status, message = stop
        self.chain.logger.info('zerocloud: %s (%s)', message, self.env.get('PATH_INFO'))
        self.chain.logger.increment('chains_stopped')
        headers = {name: value for name, value in self._response_headers
                   if name.lower().startswith('x-nexe-')}
        headers.update(_chain_headers(elapsed, length))
        headers['X-Nexe-Error'] = message
        return swob.Response(status=status, body=message + '\n', content_type='text/plain',
                             headers=headers)(self.env, start_response)

    def _next_job(self, body):
        """The environ of the next job: a POST of ``body`` (the previous answer, streamed)
        to ``/v1/<account>`` as the caller."""
        sub = make_subrequest(
            self.env, method='POST', path='/v1/%s' % quote(self.account, safe=''),
            headers={EXECUTE_HEADER: '1.0', 'Content-Type': 'application/json'},
            agent='%(orig)s zerocloud-chain', swift_source=SWIFT_SOURCE)
        sub.environ['wsgi.input'] = FileLikeIter(body)
        length = self._response_header_value('Content-Length')
        sub.content_length = int(length) if (length or '').isdigit() else None
        sub.environ.update((key, value) for key, value in self.env.items()
                           if key.startswith(CARRIED_PREFIXES))
        return sub.environ


def _chain_headers(elapsed, length):
    return [(TOTAL_TIME_HEADER, '%.3f' % elapsed), (LENGTH_HEADER, str(length))]


def filter_factory(global_conf, **local_conf):
    """Paste entry point (``egg:zerocloud#job_chain``): parse the options once, advertise
    them in ``/info``.

    :raises ValueError: a bad option value, named in the message.
    """
    conf = dict(global_conf)
    conf.update(local_conf)
    config = ChainConfig.from_conf(conf)
    register_swift_info('zerocloud', **config.info())
    logger = get_logger(conf, log_route='zerocloud-chain')

    def make_filter(app):
        return JobChain(app, config, logger)
    return make_filter
