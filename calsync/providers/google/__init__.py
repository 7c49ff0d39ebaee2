"""Google Calendar API v3: OAuth or service-account auth, sync tokens, batches, push channels."""
