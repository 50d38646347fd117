"""The site agent: the I/O shell at each site (sync loop, local state, reconciler).

Never imports the hub: it talks to it over HTTP only. (Empty until the agent issue.)
"""
