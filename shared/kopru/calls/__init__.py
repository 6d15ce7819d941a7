"""Calls through Bulutfon (the cloud PBX many Turkish SMEs answer customers on): call
records from webhooks and the CDR sync, click-to-call, and the call events. The rules are
in `kopru.calls.service`; the HTTP client in `kopru.connectors.bulutfon`."""
