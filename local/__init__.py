"""The local stack behind `make run`: the real Lambda handlers behind an API Gateway emulation, on an
embedded Postgres and a moto server. It replaces `sam local`, which needs Docker."""
