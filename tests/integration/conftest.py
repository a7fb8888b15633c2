from fixtures.server_fixtures import auth_server, multi, multi_server  # noqa: F401 - shared live servers
