"""The database: connections, named SQL, migrations, the schema and the embedded server."""
