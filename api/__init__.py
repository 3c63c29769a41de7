"""The HTTP API and dashboard served by the workers (docs/architecture.md, "HTTP API").

Pure parts (no faust, aiokafka, click or prometheus_client): ``resources`` (request and
response records), ``readmodel`` (the bounded read model the ``api`` role keeps in
tables), ``ranking`` (placement options for a workload spec), ``auth`` (bearer tokens and
roles), ``openapi`` (the OpenAPI document, generated from the records). Faust adapters:
``agent`` (topics into tables) and ``views`` (the routes, the dashboard's static files).
"""
