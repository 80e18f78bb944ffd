"""The recipes shipped with pygkd (YAML files), installed as the package ``pygkd.recipes``.

List them with ``pygkd recipes``; name one with ``--recipe distill/stcd``.
"""
