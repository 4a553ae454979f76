"""The store: the port every caller writes against, the repositories, and its two adapters.

`port` is the unit-of-work port; `repository` and the record modules hold every MongoDB query
shape (`$in`, `$lte`, ...) the product sends; `indexes` is what `outbox init` creates. The
adapters live in `memory/` (mongomock with real transactions: the demo and most tests) and
`mongo/` (pymongo); nothing outside this package names a query operator.
"""
