"""The live event stream: API Gateway WebSocket connections (in DynamoDB) that the dispatcher pushes the event
log to, in commit order, resumable after any event id. docs/events.md explains the design."""
