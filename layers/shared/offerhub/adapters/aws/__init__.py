"""AWS adapters. boto3 is imported lazily so functions that never call AWS do not pay for it."""
