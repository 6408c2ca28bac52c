"""A local stand-in for the WhatsApp Cloud API: the Graph API's send endpoint, status webhooks
for what it accepted, and simulated customers who write in, all through ingest's real,
signed webhook path.

One component for two users: `tidewire simulate` (and `tidewire up`) run it as a process for
the demo tenant, and the test suite runs it in-process as its fake Graph API, steering each
send (`cloud_api.Accept`, `RateLimit`, `Fail`, `AcceptThenFail`, `Hang`).
"""
