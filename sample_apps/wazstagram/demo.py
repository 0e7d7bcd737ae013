"""The demo Instagram application (client id and secret) the simulator knows and the roles fall back to when run alone."""

DEMO_CLIENT_ID = "wazstagram-demo"
DEMO_CLIENT_SECRET = "wazstagram-demo-secret"
