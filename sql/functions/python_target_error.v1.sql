-- Why a python job's target is refused, or NULL when it names a function a worker may
-- look up: package.module:function, or package.module:Class.method.
--
-- The grammar is the python executor's (PYTHON_TARGET in pgsched/executors/python_target.py);
-- tests/integration/test_target_rules.py holds the two patterns identical. After the
-- colon come one or two plain names, none starting with an underscore: a worker looks
-- no deeper into the module, so a target cannot walk through what the module imported
-- (myapp.tasks:logging.os.system) or through dunder attributes (myapp.x:__loader__.get_data).
CREATE OR REPLACE FUNCTION pgsched.python_target_error(target text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN target IS NULL
          OR target ~ '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$'
            THEN NULL
        ELSE format('%L is not of the form package.module:function or package.module:Class.method'
                    ' (the names after the colon may not start with _)', target)
    END
$$;

COMMENT ON FUNCTION pgsched.python_target_error(text) IS
    'Why a python target is refused, or NULL when it is package.module:function or package.module:Class.method with no name after the colon starting with _.';
