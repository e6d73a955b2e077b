"""fieldsync contracts: events, topics, settings, Redis keys, the field catalogue and protocol clients."""
