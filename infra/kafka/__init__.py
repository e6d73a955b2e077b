"""Kafka administration for fieldsync: topics are created explicitly, from shared/topics.py."""
