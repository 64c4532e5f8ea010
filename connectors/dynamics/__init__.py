"""Microsoft Dynamics 365 (Dataverse Web API v9.2): the connector and its local sandbox."""
