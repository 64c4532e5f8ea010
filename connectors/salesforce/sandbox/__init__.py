"""A Salesforce org emulator over HTTPS for tests and the demo; production code never imports it."""
