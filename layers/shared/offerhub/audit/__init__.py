"""The audit log: one immutable row per state-changing action, success or failure."""
