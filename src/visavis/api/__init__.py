"""HTTP and WebSocket edges: parse, authorize, call a service, render."""
