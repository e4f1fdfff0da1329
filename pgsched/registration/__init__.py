"""Jobs declared in Python and files (``registry``), checked before due (``validation``)."""
