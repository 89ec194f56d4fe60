"""Outbound webhooks to integrators (Stripe's model): endpoints with signing secrets sealed by KMS, one
delivery per endpoint and event, signed, sent at least once to checked and pinned public addresses, retried with
backoff for 24 h; an endpoint that only fails for 24 h is disabled. docs/webhooks.md describes the contract.

  urls.py       where webhooks may go (SSRF rules), checked at registration and before every attempt
  signing.py    whsec_ secrets and the OfferHub-Signature header
  sealing.py    secrets sealed at rest (KMS envelope), opened once per container
  filters.py    the `types` an endpoint receives (exact, `family.*`, `*`)
  transport.py  one POST to a pinned address (no redirects, 10 s)
  sender.py     fan-out, claims, attempts, retries, the disable rule; the scheduled run
  service.py    the API's use cases
  store.py      Postgres
"""
