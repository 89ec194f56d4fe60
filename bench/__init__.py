"""`make bench`: cold starts per function and warm latencies through the Lambda handlers on real Postgres."""
