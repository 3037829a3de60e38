"""The suite's fixtures, as plugins in tests/support/fixtures (one module per concern).

`services` comes first: its `pytest_configure` starts PostgreSQL and Redis and sets the
environment before any test module imports `app`. Library pieces (stacks, the S3 server,
row factories) are plain modules in tests/support.
"""

pytest_plugins = [
    "tests.support.fixtures.services",
    "tests.support.fixtures.databases",
    "tests.support.fixtures.api",
    "tests.support.fixtures.keys",
    "tests.support.fixtures.youtube",
    "tests.support.fixtures.s3",
    "tests.support.fixtures.stacks",
    "tests.support.fixtures.browser",
]
