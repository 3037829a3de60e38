"""The web UI and the API docs pages, served by the API itself."""
