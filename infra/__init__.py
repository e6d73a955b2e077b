"""Infrastructure: the embedded stack runner, the sandboxes, deployment files."""
