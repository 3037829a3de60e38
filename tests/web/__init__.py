"""The web pages the API serves: its docs pages, the vendored assets, the web UI."""
