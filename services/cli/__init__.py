"""The `fieldsync` command line: the stack, the sandbox, and the policy."""
