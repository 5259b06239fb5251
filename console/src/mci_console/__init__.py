"""The operator console: pages served as files, and a same-origin proxy to the services' APIs."""
