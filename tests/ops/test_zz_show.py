import pytest, sys
from tests.ops.test_status import *
from tests.conftest import FakeClock
def test_show(busy_world, redis_server):
    r = run_status(busy_world, redis_server.url)
    print(r.output)
    r = run_status(busy_world, redis_server.url, "--json")
    print(r.output)
