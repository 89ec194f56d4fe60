"""HTTP plumbing shared by every API function: the app factory, envelopes, errors, auth, the Lambda entry.

This is the only part of the layer that knows FastAPI; the capabilities below it do not.
"""
