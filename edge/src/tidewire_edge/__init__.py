"""Edge: stateless Socket.IO nodes that read the events log and push to browsers."""
