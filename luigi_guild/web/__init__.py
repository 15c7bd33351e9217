"""``guild view``: a read-only web page to see, compare and plot runs (Starlette, served by uvicorn).

``web.data`` and ``web.scalars`` turn runs into plain JSON-ready data and need
no web library; ``web.app`` (Starlette) and ``web.server`` (uvicorn) are
imported only by ``guild view``.
"""
