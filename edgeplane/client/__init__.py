"""Python client for the hub HTTP API, and the contexts file (server + token).

Used by the CLI, the dashboard and the simulator. Talks HTTP only; never imports the
hub or the store.

* ``hub``: ``AsyncHubClient`` (the one implementation) and ``HubClient`` (it, blocking);
* ``requests``: the request of every call; ``answers``: the hub's answers read into
  the wire types of ``edgeplane.api.wire``; ``errors``: ``ClientError`` and
  ``HubUnreachable``; ``uploads``: artifact bodies streamed in chunks;
* ``config``: the contexts file; ``strict_yaml``: manifests read with limits.
"""
