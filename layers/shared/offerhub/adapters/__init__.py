"""Adapters at the edge: Postgres, AWS services. The capabilities call them; they call nothing back."""
