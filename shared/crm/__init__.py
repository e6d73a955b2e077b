"""Dynamics 365 Web API: the client, the field mapping, and the CRM item state shared by crm_capture and crm_applier."""
