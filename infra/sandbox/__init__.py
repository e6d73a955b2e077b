"""Stand-ins for Dynamics 365 (Web API) and Exchange (EWS) that speak the real protocols."""
