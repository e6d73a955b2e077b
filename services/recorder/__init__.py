"""recorder: keeps the decisions, the appliers' results and the dead letters in Redis for explain and replay."""
