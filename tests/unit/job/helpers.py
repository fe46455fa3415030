"""Builders shared by the job tests."""
import copy

from zerocloud.job import JobError, parse_job

EXE = 'swift://acct/exec/prog'


def node(name='n', **fields):
    """A minimal valid node definition with ``fields`` added (or replaced)."""
    data = {'name': name, 'exec': {'path': EXE}}
    data.update(copy.deepcopy(fields))
    return data


def dev(name, path=None, **fields):
    """A device entry."""
    data = {'name': name, **fields}
    if path is not None:
        data['path'] = path
    return data


def problems_of(job, **kwargs):
    """The (location, message) problems parse_job reports; fails if it accepts the job."""
    try:
        parse_job(job, **kwargs)
    except JobError as err:
        return err.problems
    raise AssertionError(f'job was accepted: {job!r}')


def listing(mapping):
    """``list_objects`` over {(account, container): [names]}, ignoring the prefix hint."""
    def list_objects(account, container, prefix):
        return mapping.get((account, container), [])
    return list_objects
