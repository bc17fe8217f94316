"""Developer tools: benchmark, chaos suite, demo and its synthetic operation.

Nothing here is part of the product: the runtime (agency node, router, hub,
envelope, trust, audit) never imports this package, and a test keeps it so
(``tests/test_layout.py``). The ``broker bench``, ``broker chaos`` and
``broker demo`` commands load it only when they run.
"""
