"""MkDocs hooks: the reference pages written from the code and the database at build time.

``mkdocs.yml`` names this module under ``hooks:``. The generated pages are not
files in ``docs/``: they are added to the build, so they cannot go stale.
"""

from __future__ import annotations

import os

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from docgen import cli_reference, sql_reference

CLI_PAGE = "reference/cli.md"
SQL_PAGE = "reference/sql.md"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated reference pages to the build."""
    files.append(File.generated(config, CLI_PAGE, content=cli_reference.markdown()))
    url = os.environ.get(sql_reference.DATABASE_ENV)
    with sql_reference.migrated_database(url) as connection:
        files.append(File.generated(config, SQL_PAGE, content=sql_reference.markdown(connection)))
    return files
