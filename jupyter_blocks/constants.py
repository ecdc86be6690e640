"""Names and sizes that more than one layer of jupyter-blocks shares, each defined once."""

# The part of every URL after the server's base_url (routes, the service's redirects, links).
NAMESPACE = "blocks"

# Work on a grid of more blocks than this, or on more bytes than this (a body, code cells),
# goes to a worker thread; below them, the hop to a thread costs more than the work.
BIG_GRID_CELLS = 2_500
BIG_BODY_BYTES = 64 * 1024

# The largest body of a request that carries no grid (a rename: a title of at most 200
# characters, however escaped; pages and reads take none).
SMALL_BODY_BYTES = 64 * 1024

# Longest search text and author prefix a listing or gallery page takes, in characters.
MAX_QUERY_CHARS = 200
