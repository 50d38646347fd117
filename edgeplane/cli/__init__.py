"""The ``edgeplane`` command line (typer + rich) over ``client``.
"""
