"""The embedded stack: starts the broker, redis-server, the sandboxes and the services as child processes."""
