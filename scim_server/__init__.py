"""scimtrail: a SCIM 2.0 provisioning server with a tamper-evident audit trail."""
