"""CalDAV (RFC 4791 / RFC 6578 / RFC 6638): Nextcloud, Fastmail, iCloud, Radicale and the rest."""
