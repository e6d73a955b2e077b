"""The sync-time test of a policy: an isolated embedded stack driven like the recent traffic, current vs candidate."""
