"""The word-count job descriptions (examples/wordcount/*/job.json) are valid jobs whose
topology is exactly the one ``local.py`` wires up: mappers over ``*`` objects, 3 reducers,
one merge, channels map-i -> reduce-j -> merge."""
import json
import os
import subprocess
import sys

import pytest

from tests.unit.examples.wordcount_support import WORDCOUNT_DIR, load_example
from zerocloud.job import expand, parse_job

local = load_example('local')
OBJECTS = ['part-%04d.txt' % i for i in range(1, 6)]


def list_corpus(account, container, prefix):
    return OBJECTS if container == 'corpus' else []


def plan_of(lang):
    with open(os.path.join(WORDCOUNT_DIR, lang, 'job.json'), 'rb') as f:
        body = f.read()
    job = parse_job(body, max_config_bytes=65536, sysimages=('python',))
    return expand(job, account='AUTH_demo', list_objects=list_corpus)


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_job_topology_matches_the_local_runner(lang):
    plan = plan_of(lang)
    expected = local.plan(['/corpus/' + name for name in OBJECTS], reducers=3, top=20)
    got = [(i.name, tuple(c.peer for c in i.in_channels), tuple(c.peer for c in i.out_channels))
           for i in plan.instances]
    assert got == [(i.name, i.inputs, i.outputs) for i in expected]


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_each_mapper_is_placed_on_its_object(lang):
    mappers = [i for i in plan_of(lang).instances if i.name.startswith('map-')]
    assert [str(i.placement) for i in mappers] == [
        'swift://AUTH_demo/corpus/' + name for name in OBJECTS]


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_merge_stores_the_table_and_answers_with_the_top_words(lang):
    with open(os.path.join(WORDCOUNT_DIR, lang, 'job.json')) as f:
        merge = [node for node in json.load(f) if node['name'] == 'merge'][0]
    devices = {device['name']: device for device in merge['devices']}
    assert devices['output']['path'] == 'swift://~/results/wordcount.tsv'
    assert 'path' not in devices['stdout']
    assert merge['exec']['args'].split()[-1] == '20'


@pytest.mark.parametrize('lang', ['python', 'c'])
def test_zerocloud_check_accepts_the_job(lang, tmp_path):
    listing = tmp_path / 'listing.json'
    listing.write_text(json.dumps({'~/corpus': OBJECTS[:2]}))
    done = subprocess.run([sys.executable, '-m', 'zerocloud', 'check',
                           os.path.join(WORDCOUNT_DIR, lang, 'job.json'),
                           '--listing', str(listing)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'map-2' in done.stdout and 'reduce-3' in done.stdout
    assert '/dev/in/reduce-1 /dev/in/reduce-2 /dev/in/reduce-3' in done.stdout
