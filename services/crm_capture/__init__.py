"""crm_capture: follows Web API change tracking and publishes ItemChanged events with only changed fields."""
