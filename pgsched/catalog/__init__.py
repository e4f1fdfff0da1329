"""The data-access seam of everything that is not the worker: typed functions over
the named SQL blocks of ``sql/queries``, each taking a connection."""
