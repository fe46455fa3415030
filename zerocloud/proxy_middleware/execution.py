"""Running a validated job: parse, plan, dispatch, publish, respond (filled in phase 2)."""
from swift.common import swob


def run_job(app, config, logger, req, route, body):
    """Run the job in ``body`` for ``req`` and return the response (S5)."""
    raise swob.HTTPNotImplemented(body='job execution is not yet available\n',
                                  content_type='text/plain')
