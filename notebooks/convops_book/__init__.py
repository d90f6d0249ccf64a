"""The convops book: what the notebooks, the site and the tests use beside the library.

Notebook helpers (:mod:`~convops_book.notebook`), the reference pages' formulas as transcribed
(:mod:`~convops_book.errata`), overlap maps and plots of transposed convolutions
(:mod:`~convops_book.overlap`), peer comparison tables (:mod:`~convops_book.comparison`), the
site's formula pages (:mod:`~convops_book.site`) and models defined for tests and benchmarks
(:mod:`~convops_book.models`).  None of it ships in the ``convops`` wheel.
"""
