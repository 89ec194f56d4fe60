"""OfferHub Orchestrator shared layer: domain logic, Postgres access and HTTP plumbing."""

import os as _os

__version__ = "0.1.0"

# `sam local` can only pass variables the template declares (local/sam_env.py), and AWS_ENDPOINT_URL set to "" in
# AWS would not mean "unset" to botocore; so the template declares OFFERHUB_AWS_ENDPOINT_URL (empty in AWS) and a
# value given locally becomes boto3's endpoint before any client exists.
if _os.environ.get("OFFERHUB_AWS_ENDPOINT_URL"):
    _os.environ.setdefault("AWS_ENDPOINT_URL", _os.environ["OFFERHUB_AWS_ENDPOINT_URL"])
