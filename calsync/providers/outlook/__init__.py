"""Microsoft 365 through Graph v1.0: msal tokens, delta queries, $batch, subscriptions."""
