"""Dashboard: server-rendered pages over the client. (Empty until the dashboard issue.)"""
