"""Exchange (EWS): client, field mapping, item state; shared by exchange_capture and exchange_applier."""
