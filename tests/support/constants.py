"""Values the whole test run shares: the fixtures' environment and the helpers that start
processes or write rows must agree on them."""

from __future__ import annotations

import os

# The Redis database of the run; stacks alive at the same time take the two below it. Two
# runs sharing one Redis server at once need different ones (YDS_TEST_REDIS_DB=12, say).
TEST_REDIS_DB = int(os.environ.get("YDS_TEST_REDIS_DB", "15"))
# API_KEY_SECRET of every process the tests start, and of the keys the row factories write.
TEST_KEY_SECRET = "test-server-secret-for-api-key-hmacs-0123456789"
