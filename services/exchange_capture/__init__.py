"""exchange_capture: SyncFolderItems per mailbox folder through impersonation, published as ItemChanged."""
