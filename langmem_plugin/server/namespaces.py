"""The key-value namespaces the server keeps, with their purge rule.

They belong in the store's key-value namespace registry; until it lists them, they are declared
here, and pipeline/forget.py names ACCESS_LOG among the scope-keyed namespaces a purge erases.
"""

# key id -> {"principal", "hash", "label", "created_at"}: a credential, never its secret.
# Not user data: a purge leaves it.
API_KEYS = "api_keys"
# principal -> {"grants": [grant, ...]}: who may do what over which scopes. Not user data: a
# purge leaves it (a grant over a purged scope stays, and finds nothing there).
GRANTS = "grants"
# `<scope key>/<time in ns>-<random>` -> who read or changed which memories of that scope, when,
# and through which door (never memory text). Scope-keyed: a purge of a scope erases its
# entries and those of its sub-scopes.
ACCESS_LOG = "access_log"
