"""Great Expectations quality gate: the contract's row rules as suites, run on DuckDB."""
