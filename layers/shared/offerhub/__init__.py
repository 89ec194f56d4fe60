"""OfferHub Orchestrator shared layer: domain logic, Postgres access and HTTP plumbing."""

__version__ = "0.1.0"
