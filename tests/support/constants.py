"""Values the whole test run shares: the fixtures' environment and the helpers that start
processes or write rows must agree on them."""

from __future__ import annotations

# The Redis database of the run's shared fixtures; stacks alive at the same time take
# others (2 to 14, each named where the stack starts). Two runs at once need two Redis
# servers (TEST_REDIS_URL), not two databases.
TEST_REDIS_DB = 15
# API_KEY_SECRET of every process the tests start, and of the keys the row factories write.
TEST_KEY_SECRET = "test-server-secret-for-api-key-hmacs-0123456789"
