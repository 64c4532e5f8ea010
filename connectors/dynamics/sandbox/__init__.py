"""A local Dataverse environment over HTTPS: Entra ID v2 sign-in, the Web API v9.2, webhooks and record forms."""
