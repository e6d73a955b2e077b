"""crm_applier: writes the policy's deltas to Dynamics 365, idempotently and in key order."""
