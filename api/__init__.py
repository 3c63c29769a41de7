"""The HTTP API and dashboard served by the workers (docs/architecture.md, "HTTP API").

Pure parts (no faust, aiokafka, aiohttp, click or prometheus_client): ``resources``
(request and response records), ``validation`` (parameters and bodies into records, or a
422), ``readmodel`` (the bounded read model the ``api`` role keeps in tables), ``ranking``
(placement options for a workload spec), ``auth`` (bearer tokens and roles), ``openapi``
(the route table and the OpenAPI document generated from the records). Faust adapters:
``agent`` (topics into tables), ``handlers`` (one method per route) and ``views`` (auth,
validation, routing, JSON; the dashboard's static files).
"""
